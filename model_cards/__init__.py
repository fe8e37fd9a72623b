"""The model card templates (Jinja), one per variant plus `_common.md`; `publishing.cards` renders them."""
