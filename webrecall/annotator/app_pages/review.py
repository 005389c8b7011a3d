"""Review: disagreements between annotators, one case in focus with its pages and figures, and the gold set."""

import streamlit as st

from webrecall.annotator import actions, session, widgets
from webrecall.core.labelling import review

user = session.require("reviewer")
st.title("Review")
session.show_flash()
with session.db() as db:
    open_ = review.disagreements(db)
    accuracy = review.gold_accuracy(db)

disagreements, gold = st.tabs([f"Disagreements ({len(open_)})", "Gold set"])
with disagreements:
    if not open_:
        st.success("No open disagreements.")
    else:
        focus = actions.review_focus(len(open_))
        case = open_[focus]
        st.caption("J / K move between the cases; 1 / 2 / 3 resolve the case in focus as code / not code / mixed.")
        st.dataframe(widgets.frame([{"": "▶" if n == focus else "", "pattern": c["pattern"],
                                     "labels": ", ".join(f"{r['annotator']}: {r['label']}" for r in c["labels"])}
                                    for n, c in enumerate(open_)]), hide_index=True)  # fmt: skip
        nav = st.container(horizontal=True)
        nav.button("Previous case", shortcut="K", on_click=actions.move_review, args=(-1, len(open_)),
                   icon=":material/arrow_upward:")  # fmt: skip
        nav.button("Next case", shortcut="J", on_click=actions.move_review, args=(1, len(open_)),
                   icon=":material/arrow_downward:")  # fmt: skip
        with st.container(border=True):
            st.subheader(f"Case {focus + 1} of {len(open_)}: {widgets.code(case['pattern'])}", anchor=False)
            st.dataframe(widgets.frame([{k: v for k, v in row.items() if k != "shown"} for row in case["labels"]]),
                         hide_index=True)  # fmt: skip
            row = st.container(horizontal=True)
            for (label, name), key in zip(actions.LABEL_NAMES.items(), ("1", "2", "3"), strict=True):
                row.button(f"Resolve: {name}", key=f"resolve-{label}", shortcut=key, on_click=actions.resolve,
                           args=(user.name, case["pattern"], label))  # fmt: skip
            rounds = [r["round_id"] for r in case["labels"] if r["round_id"] is not None]
            seen = session.pattern_view(case["pattern"], max(rounds) if rounds else None)
            widgets.pattern_figures(seen, session.pattern_crawl_count(case["pattern"], seen["round_id"]))
            for sample in seen["samples"]:
                widgets.sample_card(sample)
with gold:
    st.caption("Items with known answers are mixed into the queue; this is how often each annotator matches them. "
               "Add or remove them with `webrecall gold` or the API's /queue/gold.")  # fmt: skip
    if accuracy:
        st.dataframe(widgets.frame(accuracy), hide_index=True)
    else:
        st.info("No gold item has been labeled yet.")
