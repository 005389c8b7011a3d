"""Who is logged in, which pages they see, and the database reads the pages share.

The login lives in `session_state` and, so that a refresh keeps it, in an HttpOnly session cookie (`cookie`); all
work state (claims, decisions) lives in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlmodel import Session

from webrecall.annotator import cookie
from webrecall.core.db import Annotator, QueueItem, session
from webrecall.core.labelling import accounts, claims, dashboard, item_view, page_items, queue
from webrecall.core.labelling.decisions import decided_before, item_decisions
from webrecall.core.settings import Settings

USER = "user"
LOGGED_OUT = "logged-out"
COOKIE_ACTION = "cookie-action"


def settings() -> Settings:
    return Settings()


@contextmanager
def db() -> Iterator[Session]:
    with session(settings().db_url) as s:
        yield s


def restore() -> Annotator | None:
    """The logged-in account, from this session or from the session cookie (after a refresh)."""
    state = st.session_state
    st.query_params.pop("session", None)  # the login no longer travels in the URL: an old link's token is dropped
    name = state.get(USER)
    token = None if state.get(LOGGED_OUT) else st.context.cookies.get(cookie.COOKIE)
    token = token if isinstance(token, str) else None  # (AppTest's stand-in client answers with a mock)
    with db() as s:
        account = accounts.get_account(s, name) if name else None
        if account is None and token:
            account = accounts.from_token(s, token)
        if account is not None and account.active:
            state[USER] = account.name
            return account
    state.pop(USER, None)
    return None


def sync_cookie() -> None:
    """After a login or a logout, have the browser set or clear the session cookie (once)."""
    action = st.session_state.pop(COOKIE_ACTION, None)
    if action is not None:
        with st.sidebar:
            st.html(cookie.script(*action), unsafe_allow_javascript=True)


def pages(user: Annotator | None) -> list[Any]:
    if user is None:
        return [st.Page("app_pages/login.py", title="Log in", icon=":material/login:")]
    with st.sidebar:
        st.caption(f"Logged in as **{user.name}** ({user.role})")
        st.button("Log out", on_click=log_out, icon=":material/logout:")
    out = [st.Page("app_pages/label.py", title="Label", icon=":material/label:", default=True)]
    if accounts.has_role(user.role, "reviewer"):
        out.append(st.Page("app_pages/review.py", title="Review", icon=":material/rule:"))
    out.append(st.Page("app_pages/progress.py", title="Progress", icon=":material/monitoring:"))
    if accounts.has_role(user.role, "admin"):
        out.append(st.Page("app_pages/admin.py", title="Accounts", icon=":material/group:"))
    return out


def log_in() -> None:
    with db() as s:
        state = st.session_state
        account = accounts.verify(s, state.get("login_name", ""), state.get("login_password", ""))
    if account is None:
        flash("error", "Wrong name or password.")
        return
    st.session_state[USER] = account.name
    st.session_state.pop(LOGGED_OUT, None)
    st.session_state[COOKIE_ACTION] = ("open", accounts.login_ticket(account))


def log_out() -> None:
    """This session forgets the account, and so does the browser (its cookie is cleared); the cookie this session
    was opened with is ignored from now on."""
    st.session_state.pop(USER, None)
    st.session_state[LOGGED_OUT] = True
    st.session_state[COOKIE_ACTION] = ("close",)


def require(role: str) -> Annotator:
    """The logged-in account if it has `role`, else the page stops."""
    user = restore()
    if user is None or not accounts.has_role(user.role, role):
        st.error(f"This page needs the {role} role.")
        st.stop()
    assert user is not None
    return user


def flash(kind: str, message: str) -> None:
    st.session_state["flash"] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop("flash", (None, None))
    if kind is not None:
        getattr(st, kind)(message)


def claimed_item(user: Annotator) -> QueueItem | None:
    """The item this annotator holds (renewed), or the next one claimed for them."""
    with db() as s:
        return claims.next_item(s, user.name)


@st.cache_data(ttl=900, max_entries=64, show_spinner="Loading the domain's pages...")
def _view(db_url: str, data_dir: str, round_id: int, domain: str) -> dict[str, Any]:
    return item_view.item_view(Settings(database_url=db_url, data_dir=data_dir), round_id, domain)


@st.cache_data(ttl=900, max_entries=64, show_spinner="Loading the pattern's pages...")
def _pattern_view(db_url: str, data_dir: str, pattern: str, round_id: int | None) -> dict[str, Any]:
    return item_view.pattern_view(Settings(database_url=db_url, data_dir=data_dir), pattern, round_id=round_id)


def pattern_view(pattern: str, round_id: int | None) -> dict[str, Any]:
    s = settings()
    return _pattern_view(s.db_url, s.data_dir, pattern, round_id)


def view(item: QueueItem) -> dict[str, Any]:
    s = settings()
    return _view(s.db_url, s.data_dir, item.round_id, item.domain)


@st.cache_data(ttl=3600, max_entries=256, show_spinner="Counting the patterns' pages across the whole crawl...")
def _crawl_counts(db_url: str, index_base_url: str, expand_backend: str, round_id: int,
                  patterns: tuple[str, ...]) -> dict[str, int] | None:  # fmt: skip
    from webrecall.core.db import Round
    from webrecall.core.lifecycle.expansion import pattern_crawl_counts

    with session(db_url) as s:
        rnd = s.get(Round, round_id)
    if rnd is None or not _has_index(index_base_url or rnd.base_url, expand_backend, rnd.crawl_id):
        return None
    return pattern_crawl_counts(Settings(database_url=db_url, index_base_url=index_base_url,
                                         expand_backend=expand_backend),  # type: ignore[arg-type]
                                list(patterns), rnd.crawl_id, rnd.base_url)  # fmt: skip


@st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
def _has_index(index_base: str, expand_backend: str, crawl_id: str) -> bool:
    from webrecall.core.lifecycle.expansion import has_index

    return has_index(Settings(index_base_url=index_base, expand_backend=expand_backend),  # type: ignore[arg-type]
                     crawl_id)  # fmt: skip


def _round_crawl_counts(round_id: int, patterns: tuple[str, ...]) -> dict[str, int] | None:
    s = settings()
    return _crawl_counts(s.db_url, s.index_base_url, s.expand_backend, round_id, patterns)


def pattern_crawl_count(pattern: str, round_id: int | None) -> int | None:
    """One pattern's HTML pages across the whole crawl of `round_id` (None: no round, or its crawl has no index)."""
    counts = _round_crawl_counts(round_id, (pattern,)) if round_id is not None else None
    return None if counts is None else counts.get(pattern)


def crawl_counts(item: QueueItem, view: dict[str, Any]) -> dict[str, int] | None:
    """Each proposal's pages across the whole crawl, from the crawl's URL index (None: the crawl has none)."""
    return _round_crawl_counts(item.round_id, tuple(p["pattern"] for p in view["proposals"]))


@st.cache_data(ttl=900, max_entries=64, show_spinner="Loading the page...")
def _page_view(db_url: str, data_dir: str, round_id: int, url: str) -> dict[str, Any]:
    return page_items.page_view(Settings(database_url=db_url, data_dir=data_dir), round_id, url)


def page_view(item: QueueItem) -> dict[str, Any]:
    """A page item's page (labelling.page_items): URL, title, score, its text in prose and code blocks."""
    s = settings()
    return _page_view(s.db_url, s.data_dir, item.round_id, str(item.details.get("url", "")))


def prepare_next(user: Annotator, item: QueueItem) -> None:
    """Load the next item's proposals (or page) now, after this page is drawn, so the next item opens at once."""
    with db() as s:
        upcoming = claims.peek_next(s, user.name, exclude=item.id)
    if upcoming is not None:
        page_view(upcoming) if upcoming.kind == page_items.KIND else view(upcoming)


def decisions(user: Annotator, item: QueueItem) -> dict[str, str]:
    with db() as s:
        return item_decisions(s, user.name, item.id or 0)


def earlier(item: QueueItem) -> dict[str, Any]:
    with db() as s:
        return decided_before(s, item)


def counter(user: Annotator, round_id: int | None) -> str:
    """The Label page's progress line: items left in the round (the team's), items this annotator finished today."""
    with db() as s:
        done = dashboard.finished_on(s, user.name, dashboard.today_utc())
        if round_id is None:
            return f"{done:,} done today by you (UTC)"
        left = sum(queue.counts(s, round_id)["status"].get(k, 0) for k in ("pending", "claimed"))
        number = item_view.round_number(s, round_id)
    return f"{left:,} left in round {number} · {done:,} done today by you (UTC)"


def keep_alive(name: str, item_id: int, *, idle_seconds: float) -> bool:
    with db() as s:
        return claims.keep_alive(s, name, item_id, idle_seconds=idle_seconds)


def lease_left(item: QueueItem) -> int:
    return max(0, int(queue.lease_left(item)))
