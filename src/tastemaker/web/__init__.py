"""The rating page: a FastAPI app over a RateSession, and its static page."""
