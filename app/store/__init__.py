"""The store: SQLAlchemy models and every query shoprec runs. Nothing here imports upward."""
