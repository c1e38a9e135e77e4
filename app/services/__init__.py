"""Services: orchestration between the HTTP layer, the store and the recommender.

Grouped by where the code runs: `writes` (a request's transaction), `serving` (answers from the
process's memory), `building` (background rebuilds and model selection).
"""
