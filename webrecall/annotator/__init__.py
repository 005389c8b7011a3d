"""The annotators' Streamlit app: `webrecall annotator` runs `streamlit run webrecall/annotator/streamlit_app.py`."""
