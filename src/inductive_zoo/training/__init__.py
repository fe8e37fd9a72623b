"""Training recipes and Trainer helpers."""
