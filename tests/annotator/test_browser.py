"""End to end in headless Chromium (Debian's, driven by Playwright) against a real `streamlit run` server:
log in, label with the keyboard, see the labels in the database. With WEBRECALL_SCREENSHOTS=1 it also
refreshes docs/screenshots/ (the pictures of docs/annotator.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.annotator.conftest import GIT_DOCS, GOLD, KERNEL, NEWS, POSTGRES, ROOT, SERVER, World, dev_pages_under
from webrecall.core import label_store as labels
from webrecall.core.db import Label, session
from webrecall.core.labelling import claims, decisions, queue

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/browser.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(world: World) -> Iterator[str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", SERVER, "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"streamlit did not start: {proc.stderr.read(4000) if proc.stderr else ''}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def crawl_index(dev_index: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The round's crawl with its URL index, for a `server` requested after this fixture (it copies the env)."""
    monkeypatch.setenv("WEBRECALL_INDEX_BASE_URL", dev_index)
    return dev_index


def _press(page: Any, key: str) -> None:
    """A key once the app is idle (a shortcut pressed while a rerun is still drawing can be lost)."""
    _settle(page)
    page.keyboard.press(key)


def _seed_review(world: World) -> None:
    """A disagreement and a labeled gold item, so the Review and Progress pages have something to show."""
    with session(world.db_url) as db:
        posts = f"{NEWS}/news/"
        labels.import_labels(db, [{"pattern": posts, "label": "non-code", "annotator": "alice"},
                                  {"pattern": posts, "label": "mixed", "annotator": "bob"}])  # fmt: skip
        for name in ("alice", "bob"):
            gold = queue.claim(db, name, kinds=["gold"])
            decisions.decide_domain(db, gold, name, "code" if name == "alice" else "mixed")


def test_login_and_label_with_the_keyboard(world: World, crawl_index: str, server: str, tmp_path: Path) -> None:
    """With the crawl's URL index, as an operator who built it runs the app: the pictures show whole-crawl counts."""
    from playwright.sync_api import expect, sync_playwright

    shots = ROOT / "docs" / "screenshots" if os.environ.get("WEBRECALL_SCREENSHOTS") else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    _seed_review(world)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.get_by_role("textbox", name="Name").fill("rita")
        page.get_by_role("textbox", name="Password").fill("rita-password")
        page.screenshot(path=str(shots / "login.png"))
        page.get_by_role("textbox", name="Password").press("Enter")
        expect(page.get_by_role("heading", name=KERNEL, exact=True)).to_be_visible(timeout=20_000)

        page.get_by_role("heading", name=KERNEL, exact=True).click()  # focus out of any input
        _press(page, "J")  # next pattern: the git docs directory every page sits in
        _settle(page)
        expect(page.locator(EDITOR)).to_have_value(GIT_DOCS)
        _press(page, "D")  # reason: docs
        expect(page.get_by_text("Part of the git(1) suite").first).to_be_visible(timeout=10_000)  # its samples
        whole = f"{dev_pages_under(GIT_DOCS):,} pages across the whole crawl"
        expect(page.get_by_text(whole)).to_be_visible(timeout=20_000)
        _settle(page)
        page.screenshot(path=str(shots / "label.png"), full_page=True)
        _press(page, "1")  # this pattern is code
        expect(page.get_by_text(f"{GIT_DOCS}: code")).to_be_visible(timeout=20_000)
        _press(page, "7")  # the whole domain is code, next domain
        expect(page.get_by_role("heading", name=POSTGRES, exact=True)).to_be_visible(timeout=20_000)

        with session(world.db_url) as db:
            rows = db.exec(select(Label).where(Label.annotator == "rita")).all()
        assert [(r.pattern, r.label, r.reason) for r in rows] == [
            (GIT_DOCS, "code", "docs"), (f"{KERNEL}/", "code", "")]  # the reason went with its decision
        assert all(r.round_id is not None and r.queue_item_id == 1 and r.shown["samples"] for r in rows)

        page.get_by_role("link", name="Review").click()
        expect(page.get_by_text(f"Case 1 of 2: {GOLD}/")).to_be_visible(timeout=20_000)  # gold: alice vs bob
        crawl = page.locator('[data-testid="stMetric"]', has_text="In the whole crawl")
        expect(crawl).to_contain_text(f"{dev_pages_under(f'{GOLD}/'):,}", timeout=20_000)
        _settle(page)
        page.screenshot(path=str(shots / "review.png"), full_page=True)
        page.get_by_role("link", name="Progress").click()
        expect(page.get_by_role("heading", name="Round over round")).to_be_visible(timeout=10_000)
        _settle(page)
        page.screenshot(path=str(shots / "progress.png"), full_page=True)

        page.reload()  # a refresh keeps the login (the session cookie) and the claimed item
        page.get_by_role("link", name="Label").click()
        expect(page.get_by_role("heading", name=POSTGRES, exact=True)).to_be_visible(timeout=20_000)
        browser.close()


EDITOR = 'input[aria-label="Pattern to label (edit to narrow or widen it)"]'


def _log_in(page: Any, server: str, name: str) -> None:
    page.goto(server)
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(f"{name}-password")
    page.get_by_role("textbox", name="Password").press("Enter")


@contextmanager
def _on_label_page(server: str, name: str, domain: str) -> Iterator[Any]:
    """A browser logged in as `name`, on the Label page of `domain`, focus out of any input."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _log_in(page, server, name)
        heading = page.get_by_role("heading", name=domain, exact=True)
        expect(heading).to_be_visible(timeout=20_000)
        heading.click()
        yield page
        browser.close()


def _settle(page: Any) -> None:
    """Until the rerun has finished (while it runs, the previous run's widgets are still in the page, stale)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=20_000)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=20_000)


def _no_exception(page: Any) -> None:
    from playwright.sync_api import expect

    _settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_undo_after_going_back_and_a_reason_per_decision(world: World, server: str) -> None:
    """Issue 12.1 and 12.2, as the browser does them: label, K, U, J used to crash the page (the radio's value came
    back as a stale label); a reason key (T) used to stick to every later decision."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _log_in(page, server, "alice")
        heading = page.get_by_role("heading", name=KERNEL, exact=True)
        expect(heading).to_be_visible(timeout=20_000)
        heading.click()
        editor = page.locator(EDITOR)
        checked = page.locator('[data-testid="stRadio"] input:checked')
        _press(page, "J")
        _settle(page)
        expect(editor).to_have_value(GIT_DOCS)
        _press(page, "T")  # reason: tutorial, for this decision only
        _press(page, "1")
        expect(page.get_by_text(f"{GIT_DOCS}: code")).to_be_visible(timeout=10_000)
        _settle(page)
        expect(editor).to_have_value(f"{GIT_DOCS}git-")
        _press(page, "K")
        _settle(page)
        expect(editor).to_have_value(GIT_DOCS)
        _press(page, "U")
        expect(page.get_by_text(f"Undone: {GIT_DOCS} = code")).to_be_visible(timeout=10_000)
        _no_exception(page)
        expect(checked).to_have_count(1)  # the list still shows the selection
        _press(page, "J")
        _settle(page)
        expect(editor).to_have_value(f"{GIT_DOCS}git-")
        _no_exception(page)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()  # the sidebar is still there
        _press(page, "2")  # no reason given this time
        expect(page.get_by_text(f"{GIT_DOCS}git-: not code")).to_be_visible(timeout=10_000)
        for _ in range(3):  # the last pattern: label it, undo, then a key
            _press(page, "J")
        _settle(page)
        expect(editor).to_have_value(f"{GIT_DOCS}technical/")
        _press(page, "3")
        expect(page.get_by_text(f"{GIT_DOCS}technical/: mixed")).to_be_visible(timeout=10_000)
        _press(page, "U")
        expect(page.get_by_text(f"Undone: {GIT_DOCS}technical/ = mixed")).to_be_visible(timeout=10_000)
        _press(page, "K")
        _settle(page)
        expect(editor).to_have_value(f"{GIT_DOCS}howto/")
        _no_exception(page)
        expect(checked).to_have_count(1)
        browser.close()
    with session(world.db_url) as db:
        rows = db.exec(select(Label).where(Label.annotator == "alice", Label.source != labels.UNDO)).all()
    assert [(r.pattern, r.label, r.reason) for r in rows] == [
        (GIT_DOCS, "code", "tutorial"), (f"{GIT_DOCS}git-", "non-code", ""), (f"{GIT_DOCS}technical/", "mixed", "")]


def test_review_shows_the_case_in_focus_with_its_pages_and_keys(world: World, server: str) -> None:
    """Issue 12.15: the disputed pattern's figures and sample pages are shown, and 1/2/3 act on the case in focus
    (J/K move it), not only on the first card."""
    from playwright.sync_api import expect, sync_playwright

    with session(world.db_url) as db:
        labels.import_labels(db, [{"pattern": GIT_DOCS, "label": "code", "annotator": "alice"},
                                  {"pattern": GIT_DOCS, "label": "mixed", "annotator": "bob"},
                                  {"pattern": f"{NEWS}/news/", "label": "non-code", "annotator": "alice"},
                                  {"pattern": f"{NEWS}/news/", "label": "mixed", "annotator": "bob"}])  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _log_in(page, server, "rita")
        expect(page.get_by_role("heading", name=KERNEL, exact=True)).to_be_visible(timeout=20_000)
        page.get_by_role("link", name="Review").click()
        expect(page.get_by_text(f"Case 1 of 2: {GIT_DOCS}")).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Pages (round 1)")).to_be_visible()
        expect(page.get_by_text("Part of the git(1) suite").first).to_be_visible()  # a sample page
        page.get_by_text(f"Case 1 of 2: {GIT_DOCS}").click()  # focus out of any input
        _press(page, "J")
        expect(page.get_by_text(f"Case 2 of 2: {NEWS}/news/")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("South Korean president").first).to_be_visible()
        _press(page, "2")
        expect(page.get_by_text(f"{NEWS}/news/: resolved as not code")).to_be_visible(timeout=20_000)
        expect(page.get_by_text(f"Case 1 of 1: {GIT_DOCS}")).to_be_visible(timeout=10_000)
        _no_exception(page)
        browser.close()
    with session(world.db_url) as db:
        agreed, conflicts = labels.resolved(db)
    assert agreed[f"{NEWS}/news/"] == "non-code" and set(conflicts) == {GIT_DOCS}


_BRANCH_ALONE = """() => [...document.querySelectorAll('[data-testid="stRadio"] label')].filter(label => {
    const name = label.querySelector('code');
    const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.data.indexOf('\\u2514');
        if (at < 0 || !name) continue;
        const mark = document.createRange();
        mark.setStart(node, at); mark.setEnd(node, at + 1);
        const m = mark.getBoundingClientRect(), c = name.getClientRects()[0];
        return !(c.top < m.bottom && c.bottom > m.top);  // the name starts on another line than the mark
    }
    return false;
}).length"""
_LINKS_AWAY = """() => [...document.querySelectorAll('[data-testid="stMain"] a')].map(a => a.getAttribute('href'))
    .filter(href => href && !href.startsWith('#'))"""


def test_label_page_polish(world: World, server: str) -> None:
    """Issue 12.17 in the browser: a `www.` host is text, not a link (title, messages, pattern list, samples), with
    no invisible character that a copy would pick up; a wrapped pattern never leaves its branch mark alone on a
    line; samples start above the fold at 1000 px; no Deploy."""
    from playwright.sync_api import expect

    with session(world.db_url) as db:
        decisions.decide_domain(db, claims.next_item(db, "alice"), "alice", "code")  # KERNEL: next is POSTGRES
    with _on_label_page(server, "alice", POSTGRES) as page:
        _press(page, "J")
        _press(page, "1")
        expect(page.get_by_text(f"{POSTGRES}/docs/15/: code")).to_be_visible(timeout=20_000)
        _settle(page)
        assert page.evaluate(_LINKS_AWAY) == []  # no host, pattern or sample URL is a link
        assert "\u2060" not in page.evaluate("document.body.innerText")  # nothing invisible is copied with them
        assert page.evaluate("document.querySelector('h1').textContent") == POSTGRES
        assert page.evaluate(_BRANCH_ALONE) == 0
        first_sample = page.locator(".snippet").first
        expect(first_sample).to_be_visible()
        assert first_sample.bounding_box()["y"] < 1000  # the samples start on the first screen
        expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
        expect(page.get_by_text("audit:none")).to_have_count(0)


def test_undo_on_the_empty_queue_screen_brings_the_item_back_whole(world: World, server: str) -> None:
    """Label the last item, U on the "queue is empty" screen, then 1: the item came back with an empty pattern
    field, and every label key failed ("needs a 'pattern'") until a reload."""
    from playwright.sync_api import expect

    with session(world.db_url) as db:
        while (item := claims.next_item(db, "alice")) is not None and item.domain != GOLD:
            decisions.decide_domain(db, item, "alice", "code")
    with _on_label_page(server, "alice", GOLD) as page:
        _press(page, "7")
        expect(page.get_by_text("The queue is empty")).to_be_visible(timeout=20_000)
        _press(page, "U")
        expect(page.get_by_role("heading", name=GOLD, exact=True)).to_be_visible(timeout=20_000)
        _settle(page)
        expect(page.locator(EDITOR)).to_have_value(f"{GOLD}/")
        _press(page, "1")
        expect(page.get_by_text(f"{GOLD}/: code")).to_be_visible(timeout=20_000)
        _no_exception(page)
        expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    with session(world.db_url) as db:
        mine = {p: lb.label for (p, a), lb in labels.current(db).items() if a == "alice"}
    assert mine[f"{GOLD}/"] == "code" and "" not in mine


def test_a_skip_is_the_annotators_own(world: World, server: str) -> None:
    """Two annotators in two browsers: alice skips (0) the first domain; bob still gets it (it used to leave the
    queue for the whole team), and alice does not get it again."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        alice = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        bob = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        _log_in(alice, server, "alice")
        heading = alice.get_by_role("heading", name=KERNEL, exact=True)
        expect(heading).to_be_visible(timeout=20_000)
        heading.click()
        _press(alice, "0")
        expect(alice.get_by_text(f"{KERNEL} skipped")).to_be_visible(timeout=20_000)
        expect(alice.get_by_role("heading", name=POSTGRES, exact=True)).to_be_visible(timeout=20_000)
        _log_in(bob, server, "bob")
        expect(bob.get_by_role("heading", name=KERNEL, exact=True)).to_be_visible(timeout=20_000)
        _no_exception(bob)
        browser.close()
    with session(world.db_url) as db:
        assert claims.held_item(db, "bob").domain == KERNEL and claims.held_item(db, "alice").domain == POSTGRES


_SNIPPETS = """() => [...document.querySelectorAll('.snippet')].map(s => ({
    pre: [...s.querySelectorAll('pre.code')].map(p => p.innerText),
    text: s.innerText,
    more: s.querySelectorAll('.more').length,
}))"""


def test_samples_show_code_with_its_indentation_and_mark_their_cuts(world: World, server: str) -> None:
    """The sample cards flattened code (every line flush left), showed the ``` fences as lines and cut long lines at
    160 characters without a mark: code blocks are now preformatted, fences gone, every cut marked."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _log_in(page, server, "alice")
        expect(page.get_by_role("heading", name=KERNEL, exact=True)).to_be_visible(timeout=20_000)
        expect(page.locator(".snippet").first).to_be_visible(timeout=20_000)
        _settle(page)
        cards = page.evaluate(_SNIPPETS)
        browser.close()
    code = [line for card in cards for block in card["pre"] for line in block.split("\n")]
    assert len(cards) == 5 and code
    assert any(line.startswith("    ") and line.strip() for line in code)  # indentation, as on the page
    assert not any("```" in card["text"] for card in cards)
    assert any(line.endswith("…") for card in cards for line in card["text"].split("\n"))  # a cut line
    assert sum(card["more"] for card in cards) >= 3  # and the cut blocks: "⋯ N more lines"


def test_the_app_loads_nothing_from_another_host(world: World, server: str) -> None:
    """The favicon (a `:material/...:` page icon) came from Google's font host: an annotator's browser must fetch
    nothing outside the app's own server."""
    from playwright.sync_api import expect, sync_playwright

    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: requested.append(request.url))
        _log_in(page, server, "alice")
        expect(page.get_by_role("heading", name=KERNEL, exact=True)).to_be_visible(timeout=20_000)
        page.get_by_role("link", name="Progress").click()
        expect(page.get_by_role("heading", name="Round over round")).to_be_visible(timeout=20_000)
        _settle(page)
        icon = page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href")
        browser.close()
    away = [u for u in requested if not u.startswith((server, "data:", "blob:", "ws://127.0.0.1"))]
    assert requested and away == []
    assert icon.startswith((server, "data:image/svg+xml"))  # the app's own icon


def test_the_login_lives_in_an_httponly_cookie_not_the_url(world: World, server: str) -> None:
    """The session token sat in the URL (`?session=...`), so it travelled with shared links and stayed in the
    history. It is an HttpOnly cookie now: a refresh keeps the login, no script reads it, logging out clears it."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _log_in(page, server, "alice")
        heading = page.get_by_role("heading", name=KERNEL, exact=True)
        expect(heading).to_be_visible(timeout=20_000)
        for _ in range(50):  # the browser trades the login ticket for the cookie right after the login
            cookies = {c["name"]: c for c in context.cookies()}
            if "webrecall_session" in cookies:
                break
            page.wait_for_timeout(100)
        session_cookie = cookies["webrecall_session"]
        assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
        assert session_cookie["value"].startswith("alice.")
        assert "session" not in page.url and "webrecall_session" not in page.evaluate("document.cookie")
        page.reload()  # a refresh keeps the login and the claimed item
        expect(heading).to_be_visible(timeout=20_000)
        assert "session" not in page.url
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=20_000)
        for _ in range(50):
            if "webrecall_session" not in {c["name"] for c in context.cookies()}:
                break
            page.wait_for_timeout(100)
        page.reload()  # logged out for good
        expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=20_000)
        assert "webrecall_session" not in {c["name"] for c in context.cookies()}
        other = browser.new_context().new_page()  # a shared link carries no login
        other.goto(page.url.replace("/?", "/").split("#")[0])
        expect(other.get_by_role("textbox", name="Password")).to_be_visible(timeout=20_000)
        browser.close()
