"""Label: the claimed domain, its proposed patterns as a tree, sample pages, and the decisions (keyboard)."""

import time

import streamlit as st

from webrecall.annotator import actions, session, widgets
from webrecall.core.labelling import item_view
from webrecall.core.labelling.claims import MAX_IDLE_SECONDS
from webrecall.core.labelling.decisions import REASONS
from webrecall.core.labelling.page_items import KIND as PAGE_ITEM

user = session.require("annotator")
item = session.claimed_item(user)
session.show_flash()
if item is None:
    st.title("Label")
    st.caption(session.counter(user, None))
    st.success("The queue is empty. Thank you!")
    actions.forget_items()
    st.button("Undo last decision", shortcut="U", on_click=actions.undo, args=(user.name,))
    st.stop()

st.session_state["active_at"] = time.time()  # the page runs in full on every action (a click, a key, a selection)


@st.fragment(run_every=60)
def heartbeat(name: str, item_id: int) -> None:
    """While the page is open, keep the lease (up to MAX_IDLE_SECONDS after the last action)."""
    session.keep_alive(name, item_id, idle_seconds=time.time() - st.session_state.get("active_at", 0.0))


heartbeat(user.name, item.id or 0)
if item.kind == PAGE_ITEM:  # one page of a site too small for a domain item: one key decides
    page = {**session.page_view(item), "suggested": item_view.suggests(item)}
    widgets.title(page["title"] or page["url"])
    st.caption(f"**{session.counter(user, item.round_id)}** · page item · queued because "
               f"{widgets.queued_because(item)} · claimed by you for {session.lease_left(item)} s more")  # fmt: skip
    keys = st.container(horizontal=True)
    keys.button("Code", shortcut="1", on_click=actions.label_page, args=(user.name, item, page, True))
    keys.button("Not code", shortcut="2", on_click=actions.label_page, args=(user.name, item, page, False))
    if page["suggested"] and page.get("suggestion"):
        keys.button(widgets.accept_label(page["suggestion"]), shortcut="A", type="primary",
                    on_click=actions.label_page, args=(user.name, item, page, page["suggestion"]["label"] == "code"))
    keys.button("Skip page", shortcut="0", on_click=actions.skip_domain, args=(user.name, item))
    keys.button("Undo last decision", shortcut="U", on_click=actions.undo, args=(user.name,), icon=":material/undo:")
    st.caption("Code: the page is about code or shows code worth training on (a URL label for this page only).")
    widgets.page_sample(page, item)
    session.prepare_next(user, item)
    st.stop()
view = {**session.view(item), "suggested": item_view.suggests(item)}
decided = session.decisions(user, item)
before = session.earlier(item)
agreed = {p: v for p, v in before["agreed"].items() if p not in decided}
if actions.edit_key(item) not in st.session_state:  # a new item, or one back after a run that did not draw it
    actions.restore_selection(item, view, agreed)
index = min(actions.selected(item), len(view["proposals"]) - 1)
selected = view["proposals"][index]
crawl = session.crawl_counts(item, view)  # None when the crawl has no URL index

widgets.title(item.domain)
st.caption(f"**{session.counter(user, item.round_id)}** · {item.kind} item · queued because "
           f"{widgets.queued_because(item)} · "
           f"claimed by you for {session.lease_left(item)} s more (renewed while this page is open, up to "
           f"{MAX_IDLE_SECONDS // 60} min after your last action)")  # fmt: skip
widgets.why_queued(item)
widgets.earlier_labels(before)

tree, detail = st.columns([2, 3], gap="large")
with tree:  # what to decide on, and the keys that decide
    st.subheader("Proposed patterns", anchor=False)
    radio_key = actions.pattern_key(item, {**agreed, **decided})
    st.radio("Pattern", range(len(view["proposals"])), index=index, key=radio_key, label_visibility="collapsed",
             format_func=widgets.tree_label(view, decided, agreed), on_change=actions.follow_selection,
             args=(item, view, radio_key))  # fmt: skip
    nav = st.container(horizontal=True)
    nav.button("Previous", shortcut="K", on_click=actions.step, args=(item, view, -1), icon=":material/arrow_upward:")
    nav.button("Next", shortcut="J", on_click=actions.step, args=(item, view, 1), icon=":material/arrow_downward:")
    st.text_input("Pattern to label (edit to narrow or widen it)", key=actions.edit_key(item),
                  help="It must stay on this domain's site: its registered domain or a subdomain of it.")
    st.caption("Reason (optional, for the next decision only)")
    reasons = st.container(horizontal=True)
    for reason, key in zip(REASONS, "DQTBFSO", strict=True):
        reasons.button(reason, shortcut=key, on_click=actions.set_reason, args=(reason,),
                       type="primary" if st.session_state.get("reason") == reason else "secondary")
    st.caption("This pattern")
    this = st.container(horizontal=True)
    this.button("Code", shortcut="1", on_click=actions.label_pattern, args=(user.name, item, view, "code"))
    this.button("Not code", shortcut="2", on_click=actions.label_pattern, args=(user.name, item, view, "non-code"))
    this.button("Mixed", shortcut="3", on_click=actions.label_pattern, args=(user.name, item, view, "mixed"))
    this.button("Skip pattern", shortcut="4", on_click=actions.skip_pattern, args=(item, view))
    suggested = actions.suggestion_for(item, view)
    if suggested is not None:
        st.button(widgets.accept_label(suggested), shortcut="A", type="primary", on_click=actions.label_pattern,
                  args=(user.name, item, view, suggested["label"]),
                  help="The model's answer for this pattern: the share of its pages on that side. A accepts it.")
    elif not view["suggested"]:
        st.caption("No model suggestion on audit and gold items: they measure the model and the annotators.")
    st.caption("The whole domain")
    whole = st.container(horizontal=True)
    whole.button("Domain: code", shortcut="7", on_click=actions.label_domain, args=(user.name, item, view, "code"))
    whole.button("Domain: not code", shortcut="8", on_click=actions.label_domain,
                 args=(user.name, item, view, "non-code"))
    whole.button("Domain: mixed", shortcut="9", on_click=actions.label_domain, args=(user.name, item, view, "mixed"))
    whole.button("Skip domain", shortcut="0", on_click=actions.skip_domain, args=(user.name, item))
    done = st.container(horizontal=True)
    done.button("Done, next domain", shortcut="N", type="primary", on_click=actions.finish,
                args=(user.name, item, view))
    done.button("Undo last decision", shortcut="U", on_click=actions.undo, args=(user.name,), icon=":material/undo:")
    with st.expander("All proposals and their scores"):
        widgets.proposal_table(view, decided, agreed, crawl)

with detail:  # what to read: the selected pattern's pages
    st.subheader("Sample pages", anchor=False)
    st.caption(f"Under {widgets.code(selected['pattern'])}: "
               f"{widgets.pages(selected['pages'])}{widgets.in_crawl(crawl, selected['pattern'])}, "
               f"{selected['fraction']:.0%} recalled; samples spread from the "
               "highest score to the lowest, code-like lines highlighted")  # fmt: skip
    if not selected["samples"]:
        st.info("None of these pages has extracted text to show.")
    for sample in selected["samples"]:
        widgets.sample_card(sample)

session.prepare_next(user, item)
