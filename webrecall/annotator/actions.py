"""The writes behind the buttons (Streamlit `on_click` callbacks): each calls one `core.labelling` function
and leaves a message for the next run. Widget values are read from `session_state` by key."""

from __future__ import annotations

import hashlib

import streamlit as st

from webrecall.annotator.session import db, flash
from webrecall.annotator.widgets import code
from webrecall.core.db import QueueItem
from webrecall.core.labelling import accounts, decisions, page_items, queue, review
from webrecall.core.labelling.item_view import shown_record
from webrecall.core.labelling.queue import LeaseError

LABEL_NAMES = {"code": "code", "non-code": "not code", "mixed": "mixed"}


def selection_key(item: QueueItem) -> str:
    """The selected proposal's index (plain state, the source of truth for the radio, J/K and the editor)."""
    return f"selected-{item.id}"


def pattern_key(item: QueueItem, decided: dict[str, str]) -> str:
    """The radio's key: new whenever the selection or the decisions (and so the option labels) change.

    Streamlit sends a radio's value back as its option's label; a label that changed since (a decision marked or
    undone) maps to no option, and the value came back as that stale string (issue 12.1). A fresh widget per
    state is drawn with `index=` the selection and has no stale value to send."""
    marks = ",".join(f"{p}={v}" for p, v in sorted(decided.items()))
    digest = hashlib.sha1(marks.encode()).hexdigest()[:8]
    return f"pattern-{item.id}-{st.session_state.get(selection_key(item), 0)}-{digest}"


def edit_key(item: QueueItem) -> str:
    return f"edit-{item.id}"


def selected(item: QueueItem) -> int:
    return int(st.session_state.get(selection_key(item), 0))


def select_pattern(item: QueueItem, view: dict, index: int) -> None:
    """Move the selection (and the pattern editor) to proposal `index`."""
    index = max(0, min(index, len(view["proposals"]) - 1))
    st.session_state[selection_key(item)] = index
    st.session_state[edit_key(item)] = view["proposals"][index]["pattern"]


def restore_selection(item: QueueItem, view: dict, agreed: dict[str, str]) -> None:
    """Fill the pattern editor: at the kept selection, or at the first pattern nobody has decided yet."""
    if selection_key(item) in st.session_state:
        return select_pattern(item, view, selected(item))
    patterns = [p["pattern"] for p in view["proposals"]]
    select_pattern(item, view, next((i for i, p in enumerate(patterns) if p not in agreed), 0))


def forget_items() -> None:
    """Drop every item's selection and editor value while no item is drawn (the "queue is empty" screen).

    That run ends in `st.stop()`, which keeps the editor's last value on the server while the browser forgets the
    widget: an item that came back (an undo there) showed an empty editor, the server believed the old pattern,
    and the next key sent the empty one ("needs a 'pattern'") on every press until a reload. Without the stale
    value the item is drawn afresh, its editor filled from the server."""
    for key in [k for k in st.session_state if str(k).startswith(("selected-", "edit-", "pattern-"))]:
        del st.session_state[key]


def suggestion_for(item: QueueItem, view: dict) -> dict | None:
    """The model's suggestion for the pattern in the editor (a proposal's; an edited pattern has none)."""
    if not view.get("suggested"):
        return None
    pattern = st.session_state.get(edit_key(item), "")
    return next((p.get("suggestion") for p in view["proposals"] if p["pattern"] == pattern), None)


def step(item: QueueItem, view: dict, delta: int) -> None:
    select_pattern(item, view, selected(item) + delta)


def follow_selection(item: QueueItem, view: dict, radio_key: str) -> None:
    """A click in the pattern list: select it (a value that is not an index is ignored)."""
    value = st.session_state.get(radio_key)
    if isinstance(value, int):
        select_pattern(item, view, value)


def set_reason(reason: str) -> None:
    st.session_state["reason"] = "" if st.session_state.get("reason") == reason else reason


def take_reason() -> str:
    """The reason given for the decision being saved; it applies to that decision only (issue 12.2)."""
    return str(st.session_state.pop("reason", "") or "")


def _lost(item: QueueItem, exc: Exception) -> None:
    flash("warning", f"Your claim on {code(item.domain)} ran out and it went back to the queue ({exc}).")


def label_pattern(user: str, item: QueueItem, view: dict, label: str) -> None:
    pattern = st.session_state.get(edit_key(item), "")
    try:
        with db() as s:
            decisions.decide(s, item.id or 0, user, pattern, label, reason=take_reason(),
                              shown=shown_record(view, pattern))  # fmt: skip
    except LeaseError as exc:
        return _lost(item, exc)
    except ValueError as exc:
        return flash("error", str(exc))
    flash("success", f"{code(pattern)}: {LABEL_NAMES[label]}")
    step(item, view, 1)


def skip_pattern(item: QueueItem, view: dict) -> None:
    step(item, view, 1)


def label_domain(user: str, item: QueueItem, view: dict, label: str) -> None:
    try:
        with db() as s:
            decisions.decide_domain(s, item, user, label, reason=take_reason(),
                                     shown=shown_record(view, decisions.domain_pattern(item.domain)))  # fmt: skip
    except LeaseError as exc:
        return _lost(item, exc)
    flash("success", f"{code(item.domain)}: {LABEL_NAMES[label]} (press U to undo)")


def label_page(user: str, item: QueueItem, page: dict, is_code: bool) -> None:
    """A page item's one key: a URL label for that page (webrecall.core.labelling.page_items)."""
    try:
        with db() as s:
            page_items.label_page(s, item.id or 0, user, code=is_code, shown=page_items.shown_page(page))
    except LeaseError as exc:
        return _lost(item, exc)
    take_reason()
    flash("success", f"{code(page['url'])}: {'code' if is_code else 'not code'} (press U to undo)")


def skip_domain(user: str, item: QueueItem) -> None:
    try:
        with db() as s:
            queue.skip(s, item.id or 0, user, take_reason())
    except LeaseError as exc:
        return _lost(item, exc)
    flash("info", f"{code(item.domain)} skipped: it stays in the queue for the others (press U to undo)")


def finish(user: str, item: QueueItem, view: dict) -> None:
    try:
        with db() as s:
            decisions.finish(s, item.id or 0, user, shown=shown_record(view, decisions.domain_pattern(item.domain)))
    except LeaseError as exc:
        return _lost(item, exc)
    take_reason()
    flash("success", f"{code(item.domain)} done")


def undo(user: str) -> None:
    with db() as s:
        undone = decisions.undo_last(s, user)
    if undone is None:
        flash("info", "Nothing to undo.")
    elif isinstance(undone, QueueItem):
        flash("info", f"Undone: skip of {code(undone.domain)}")
    else:
        flash("info", f"Undone: {code(undone.pattern)} = {LABEL_NAMES.get(undone.label, undone.label)}")


REVIEW_FOCUS = "review-focus"


def review_focus(cases: int) -> int:
    """The case in focus on the Review page (the keys act on it), kept within the open cases."""
    return max(0, min(int(st.session_state.get(REVIEW_FOCUS, 0)), cases - 1))


def move_review(delta: int, cases: int) -> None:
    st.session_state[REVIEW_FOCUS] = max(0, min(review_focus(cases) + delta, cases - 1))


def resolve(reviewer: str, pattern: str, label: str) -> None:
    """Resolve the case; the focus stays at its place, which is now the next case."""
    with db() as s:
        review.resolve(s, pattern, label, reviewer)
    flash("success", f"{code(pattern)}: resolved as {LABEL_NAMES[label]}")


def add_account() -> None:
    state = st.session_state
    try:
        with db() as s:
            accounts.create_account(s, state["new_name"], state["new_password"], state["new_role"])
    except ValueError as exc:
        return flash("error", str(exc))
    flash("success", f"account {state['new_name']} created")

