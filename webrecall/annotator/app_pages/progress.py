"""Progress: per round and per annotator (labeled today, queue left, agreement, domain and page items labelled),
and the rounds' growth."""

import streamlit as st

from webrecall.annotator import session, widgets
from webrecall.core.labelling import dashboard

session.require("annotator")
st.title("Progress")
with session.db() as db:
    data = dashboard.progress(db)

st.subheader("Rounds")
domain_items = sum(r["domain_items_labelled"] for r in data["rounds"])
page_items = sum(r["page_items_labelled"] for r in data["rounds"])
st.caption(f"Labelled so far: {widgets.count(domain_items, 'domain item')} and "
           f"{widgets.count(page_items, 'page item')} (single pages, one per site). Each page item was chosen by a "
           "strategy: uncertainty (its score is near the threshold), disagreement (its code structure and the model "
           "disagree), coverage (a language or kind of site the kept pages lack) or audit (at random); its yield is "
           "how many of those labelled were code.")
st.dataframe(widgets.frame(data["rounds"]), hide_index=True)
st.subheader("Annotators")
st.caption(f"Labels count every standing label an annotator gave (this app, the API, imports); items are the queue "
           f"items they finished. Today is {data['today']} in UTC (since 00:00 UTC). Agreement is Cohen's kappa over "
           "the patterns that two annotators both labeled.")  # fmt: skip
st.dataframe(widgets.frame(data["annotators"]), hide_index=True)
st.subheader("Round over round")
widgets.growth_charts(data["growth"])
