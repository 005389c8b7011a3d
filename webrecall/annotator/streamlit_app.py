"""Entry point: page config, the logged-in account (or the login page), and the navigation."""

import streamlit as st

from webrecall.annotator import session

st.set_page_config(page_title="webrecall annotator", page_icon=":material/label:", layout="wide")
user = session.restore()
st.navigation(session.pages(user), position="sidebar").run()
