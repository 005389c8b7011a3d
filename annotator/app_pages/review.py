"""Review: disagreements between annotators to resolve, and the gold set with per-annotator accuracy."""

import streamlit as st

from annotator import actions, session, widgets
from recall import annotators

user = session.require("reviewer")
st.title("Review")
session.show_flash()
with session.db() as db:
    open_ = annotators.disagreements(db)
    accuracy = annotators.gold_accuracy(db)

disagreements, gold = st.tabs([f"Disagreements ({len(open_)})", "Gold set"])
with disagreements:
    if not open_:
        st.success("No open disagreements.")
    for n, case in enumerate(open_):
        with st.container(border=True):
            st.markdown(f"**{case['pattern']}**")
            st.dataframe(widgets.frame([{k: v for k, v in row.items() if k != "shown"} for row in case["labels"]]),
                         hide_index=True)  # fmt: skip
            keys = ("1", "2", "3") if n == 0 else (None, None, None)  # the top case answers to the keyboard
            row = st.container(horizontal=True)
            for (label, name), key in zip(actions.LABEL_NAMES.items(), keys, strict=True):
                row.button(f"Resolve: {name}", key=f"resolve-{n}-{label}", shortcut=key, on_click=actions.resolve,
                           args=(user.name, case["pattern"], label))  # fmt: skip
with gold:
    st.caption("Items with known answers are mixed into the queue; this is how often each annotator matches them.")
    if accuracy:
        st.dataframe(widgets.frame(accuracy), hide_index=True)
    else:
        st.info("No gold item has been labeled yet.")
