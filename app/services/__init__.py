"""Services: orchestration between the HTTP layer, the store and the recommender."""
