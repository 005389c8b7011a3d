"""The HTTP API: a thin FastAPI adapter over `recall/` (see `api.main`)."""
