"""Celery adapter over `recall/`: tasks take ids, call one recall function and return a small summary."""
