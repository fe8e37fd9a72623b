"""Model variants of the zoo."""
