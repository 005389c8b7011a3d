"""Accounts (admins): the annotators and their roles; new accounts."""

import streamlit as st

from webrecall.annotator import actions, session, widgets
from webrecall.core.labelling import accounts

session.require("admin")
st.title("Accounts")
session.show_flash()
with session.db() as db:
    rows = [{"name": a.name, "role": a.role, "active": a.active, "created": a.created_at}
            for a in accounts.accounts(db)]
st.dataframe(widgets.frame(rows), hide_index=True)
with st.form("new-account", clear_on_submit=True):
    st.text_input("Name", key="new_name")
    st.text_input("Password (8+ characters)", type="password", key="new_password")
    st.selectbox("Role", accounts.ROLES, key="new_role")
    st.form_submit_button("Create account", on_click=actions.add_account)
