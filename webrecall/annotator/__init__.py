"""The annotators' Streamlit app: `webrecall annotator` runs `streamlit run webrecall/annotator/server.py` (the app,
`streamlit_app.py`, with the session cookie's routes)."""
