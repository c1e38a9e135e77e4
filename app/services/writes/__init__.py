"""Writes: a request's unit of work (events, items, users, erasure), then the live indexes it changes."""
