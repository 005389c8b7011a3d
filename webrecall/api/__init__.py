"""The HTTP API: a thin FastAPI adapter over the core (see `webrecall.api.main`)."""
