"""Log in with a named account (created by an admin or `webrecall annotators add`)."""

import streamlit as st

from webrecall.annotator import session

st.title("webrecall annotator")
session.show_flash()
with st.form("login"):
    st.text_input("Name", key="login_name")
    st.text_input("Password", type="password", key="login_password")
    st.form_submit_button("Log in", on_click=session.log_in, type="primary")
