"""Progress: per round and per annotator (labeled today, queue left, agreement), and the rounds' growth."""

import streamlit as st

from webrecall.annotator import session, widgets
from webrecall.core.labelling import dashboard

session.require("annotator")
st.title("Progress")
with session.db() as db:
    data = dashboard.progress(db)

st.subheader("Rounds")
st.dataframe(widgets.frame(data["rounds"]), hide_index=True)
st.subheader("Annotators")
st.caption("Agreement is Cohen's kappa over the patterns that two annotators both labeled.")
st.dataframe(widgets.frame(data["annotators"]), hide_index=True)
st.subheader("Round over round")
widgets.growth_charts(data["growth"])
