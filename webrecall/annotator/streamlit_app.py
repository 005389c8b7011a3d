"""Entry point: page config, the logged-in account (or the login page), and the navigation."""

from pathlib import Path

import streamlit as st

from webrecall.annotator import session

# the icon ships with the app: a `:material/...:` page icon is fetched from Google's font host by the browser
st.set_page_config(page_title="webrecall annotator", page_icon=str(Path(__file__).with_name("favicon.svg")),
                   layout="wide")
user = session.restore()
navigation = st.navigation(session.pages(user), position="sidebar")
session.sync_cookie()
navigation.run()
