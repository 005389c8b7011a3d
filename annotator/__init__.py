"""The annotators' Streamlit app: `webrecall annotator` runs `streamlit run annotator/streamlit_app.py`."""
