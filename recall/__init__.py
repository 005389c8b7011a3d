"""webrecall core: recall the code-related pages of a web crawl (no Celery, FastAPI or Streamlit here)."""

__version__ = "0.1.0"
