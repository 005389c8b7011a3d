"""The annotators' app with its session-cookie routes (`webrecall annotator` runs `streamlit run` on this file):
Streamlit's ASGI App serves `streamlit_app.py` and the routes of `cookie`."""

from streamlit.starlette import App

from webrecall.annotator.cookie import routes

app = App("streamlit_app.py", routes=routes())
