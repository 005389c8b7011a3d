"""Every page and action through Streamlit's AppTest, against a real SQLite database."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from tests.annotator.conftest import (
    APP,
    GIT_DOCS,
    GOLD,
    KERNEL,
    POSTGRES,
    ROUND_WARCS,
    World,
    disagree_on_postgres,
    title,
)
from webrecall.core import label_store as labels
from webrecall.core.db import Label, QueueItem, Round, WarcTask, session, utcnow
from webrecall.core.labelling import accounts, claims, dashboard, decisions, item_view, queue, review
from webrecall.core.storage.layout import index_path
from webrecall.core.storage.store import Store


def app(user: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if user:
        at.session_state["user"] = user
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def test_login_required(world: World) -> None:
    at = app()
    assert [t.value for t in at.title] == ["webrecall annotator"] and not any(b.label == "Code" for b in at.button)
    at.text_input(key="login_name").input("alice")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click()
    at.run()
    assert "Wrong name or password." in [e.value for e in at.error]
    at.text_input(key="login_password").input("alice-password")
    at.button[0].click()
    at.run()
    assert title(at) == KERNEL and "session" not in at.query_params  # no token in the URL
    (script,) = [h.proto.body for h in at.get("html") if "/_webrecall/session" in h.proto.body]
    ticket = script.split('\\"ticket\\": \\"', 1)[1].split('\\"', 1)[0]
    with session(world.db_url) as db:  # the browser trades this one-minute ticket for the HttpOnly cookie
        assert accounts.from_ticket(db, ticket).name == "alice" and accounts.from_token(db, ticket) is None
    assert not at.exception


def test_refresh_resumes_the_claimed_item(world: World) -> None:
    first = app("bob")
    with session(world.db_url) as db:
        token = accounts.session_token(accounts.get_account(db, "bob"))
    assert title(app("bob")) == title(first) == KERNEL  # the session's login (a refresh: the cookie, in a browser)
    assert title(app(session=token)) == "webrecall annotator"  # a token in a (shared) URL logs nobody in
    assert title(app("alice")) == POSTGRES  # the other annotator gets another item


def test_label_pattern_domain_and_undo(world: World) -> None:
    at = app("alice")
    at.radio[0].set_value(1).run()
    assert at.text_input(key=f"edit-{1}").value == GIT_DOCS
    click(at, "docs")
    click(at, "Code")
    with session(world.db_url) as db:
        (row,) = db.exec(select(Label)).all()
    assert (row.pattern, row.label, row.annotator, row.reason, row.queue_item_id) == \
        (GIT_DOCS, "code", "alice", "docs", 1)  # fmt: skip
    assert row.round_id is not None and row.shown["pattern"] == GIT_DOCS
    assert len(row.shown["samples"]) >= 3 and row.created_at is not None
    at.text_input(key="edit-1").set_value(f"{GIT_DOCS}howto/%").run()  # an edited pattern
    click(at, "Not code")
    click(at, "Domain: mixed")
    assert title(at) == POSTGRES
    click(at, "Undo last decision")  # the domain label: back to docs.example.org
    assert title(at) == KERNEL
    with session(world.db_url) as db:
        current = {p: lb.label for (p, _), lb in labels.current(db).items()}
        assert current == {GIT_DOCS: "code", f"{GIT_DOCS}howto/%": "non-code"}
        assert db.get(QueueItem, 1).status == "claimed" and db.get(QueueItem, 2).status == "pending"
    click(at, "Done, next domain")
    click(at, "Skip domain")
    with session(world.db_url) as db:
        assert db.get(QueueItem, 1).status == "done" and db.get(QueueItem, 2).status == "pending"  # for the others
        assert queue.last_skip(db, "alice").queue_item_id == 2
    click(at, "Undo last decision")  # the skip is the latest decision: the domain comes back, the labels stand
    assert title(at) == POSTGRES
    with session(world.db_url) as db:
        item = db.get(QueueItem, 2)
        assert (item.status, item.claimed_by) == ("claimed", "alice") and queue.last_skip(db, "alice") is None
        assert len(labels.current(db)) == 2 and db.get(QueueItem, 1).status == "done"
    click(at, "Skip domain")
    assert title(at) != POSTGRES  # not hers again
    with session(world.db_url) as db:
        assert db.get(QueueItem, 2).claimed_by != "alice" and claims.next_item(db, "bob").domain == POSTGRES
    assert not at.exception


def test_every_action_has_a_shortcut(world: World) -> None:
    at = app("alice")
    shortcuts = [b.proto.shortcut for b in at.button if b.label != "Log out"]
    assert all(shortcuts) and len(set(shortcuts)) == len(shortcuts)


def test_lease_expiry(world: World) -> None:
    at = app("alice")
    assert title(at) == KERNEL
    with session(world.db_url) as db:
        assert queue.expire(db, now=utcnow() + timedelta(minutes=6)) == 1  # alice walked away
        assert claims.next_item(db, "bob").domain == KERNEL
    click(at, "Domain: code")
    assert any("ran out" in w.value for w in at.warning)
    assert title(at) == POSTGRES
    with session(world.db_url) as db:
        assert db.exec(select(Label)).all() == []


def test_review_page_resolves_and_shows_gold(world: World) -> None:
    disagree_on_postgres(world)
    with pytest.raises(ValueError, match="Known pages"):  # an annotator has no Review page
        app("alice").switch_page("app_pages/review.py")
    at = app("rita").switch_page("app_pages/review.py").run()
    assert [h.value for h in at.subheader] == [f"Case 1 of 1: `{POSTGRES}/`"]
    assert at.metric[0].label == "Pages (round 1)" and at.metric[0].value == "125"
    click(at, "Resolve: not code")
    with session(world.db_url) as db:
        assert labels.resolved(db)[0][f"{POSTGRES}/"] == "non-code"
    assert any("No open disagreements" in s.value for s in at.success)
    gold = at.dataframe[0].value
    assert list(gold["annotator"]) == ["alice", "bob"] and list(gold["accuracy"]) == [1.0, 1.0]


def test_progress_page(world: World) -> None:
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice")
        decisions.decide_domain(db, item, "alice", "code")
    at = app("alice").switch_page("app_pages/progress.py").run()
    rounds, people = at.dataframe[0].value, at.dataframe[1].value
    assert list(rounds["round"]) == [1] and list(rounds["labeled_today"]) == [1]
    assert dict(zip(people["annotator"], people["labeled_today"], strict=True))["alice"] == 1
    # issue 12.16: one round draws no empty chart, its figures instead
    assert at.get("vega_lite_chart") == [] and not at.exception
    with session(world.db_url) as db:
        totals = db.exec(select(Round).where(Round.number == 1)).one().totals
    held = totals["model"]["seed_heldout"]
    assert {m.label: m.value for m in at.metric} == {
        "Recalled pages": str(totals["recalled"]), "Related domains": str(totals["related_domains"]),
        "Precision": f"{held['precision']:.3f}", "Recall": f"{held['recall']:.3f}", "F1": f"{held['f1']:.3f}"}
    with session(world.db_url) as db:
        db.add(Round(number=2, status="done", totals={"recalled": 700, "related_domains": 33, "model": {
            "seed_heldout": {"precision": 0.97, "recall": 0.99, "f1": 0.98, "roc_auc": 0.99}}}))
        db.commit()
    at = app("alice").switch_page("app_pages/progress.py").run()
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(charts) == 2 and not at.exception
    assert all(c["encoding"]["x"]["type"] == "ordinal" for c in charts)  # rounds 1, 2 on the axis, not 1.000000


def test_admin_creates_accounts(world: World) -> None:
    at = app("ada").switch_page("app_pages/admin.py").run()
    at.text_input(key="new_name").input("carol")
    at.text_input(key="new_password").input("carol-password")
    at.selectbox(key="new_role").select("reviewer")
    at.button[0].click()
    at.run()
    with session(world.db_url) as db:
        assert accounts.verify(db, "carol", "carol-password").role == "reviewer"
    with pytest.raises(ValueError, match="Known pages"):
        app("rita").switch_page("app_pages/admin.py")


def test_two_sessions_never_share_an_item_and_lose_no_label(world: World) -> None:
    """Two AppTest sessions on one database, click for click. (AppTest itself is not thread-safe: the threaded
    burst runs through the same core functions the callbacks call, in the test below.)"""
    with session(world.db_url) as db:
        rid = db.get(QueueItem, 1).round_id
        queue.enqueue(db, [QueueItem(round_id=rid, domain=f"site{i:02d}.example", priority=1.5) for i in range(24)])
    seen: dict[str, list[str]] = {"alice": [], "bob": []}
    sessions = {name: app(name) for name in seen}
    active = set(seen)
    while active:
        for name in sorted(active):
            at = sessions[name]
            if title(at) == "Label":  # the queue has nothing more for this annotator
                active.discard(name)
                continue
            seen[name].append(title(at))
            click(at, "Domain: not code")
    shared = set(seen["alice"]) & set(seen["bob"])
    assert shared <= {POSTGRES, GOLD}  # the double-labeled and the gold item only
    with session(world.db_url) as db:
        rows = db.exec(select(Label)).all()
        items = db.exec(select(QueueItem)).all()
    assert Counter(r.annotator for r in rows) == {n: len(v) for n, v in seen.items()}
    assert set(seen["alice"]) | set(seen["bob"]) == {i.domain for i in items}
    assert all(i.status == "done" for i in items if i.kind != "gold")


def test_undo_after_going_back_keeps_the_page_and_the_selection(world: World) -> None:
    """Issue 12.1: label, K back to it, U, then any key crashed in select_pattern (the radio's value had turned
    into its label); after U the list must still show the selection."""
    at = app("alice")
    at.radio[0].set_value(1).run()
    click(at, "Code")  # GIT_DOCS: code, the selection moves on to the next pattern
    assert at.radio[0].value == 2
    click(at, "Previous")
    assert at.radio[0].value == 1
    click(at, "Undo last decision")
    assert not at.exception and at.radio[0].value == 1 and at.text_input(key="edit-1").value == GIT_DOCS
    click(at, "Next")
    assert not at.exception and at.radio[0].value == 2 and at.text_input(key="edit-1").value == f"{GIT_DOCS}git-"
    for _ in range(4):  # to the last pattern and label it, then undo
        click(at, "Next")
    click(at, "Not code")
    click(at, "Undo last decision")
    click(at, "Previous")
    assert not at.exception and at.radio[0].value == 3
    with session(world.db_url) as db:
        assert labels.current(db) == {}


def test_a_reason_applies_to_its_decision_only(world: World) -> None:
    """Issue 12.2: a reason given once used to be saved with every later label of the session."""
    at = app("alice")
    at.radio[0].set_value(1).run()
    click(at, "tutorial")
    click(at, "Code")
    click(at, "Not code")  # the next pattern, no reason given
    click(at, "spam")
    click(at, "Skip pattern")
    click(at, "Domain: not code")
    with session(world.db_url) as db:
        rows = db.exec(select(Label)).all()
    assert [(r.pattern, r.label, r.reason) for r in rows] == [
        (GIT_DOCS, "code", "tutorial"), (f"{GIT_DOCS}git-", "non-code", ""), (f"{KERNEL}/", "non-code", "spam")]


def test_a_domain_queued_again_shows_its_earlier_labels_and_prefills_the_agreed(world: World) -> None:
    """Issue 12.13: round 2 queues www.postgresql.org again after two annotators and a reviewer decided on it."""
    docs = f"{POSTGRES}/docs/15/"
    with session(world.db_url) as db:
        for name, host_label in (("alice", "code"), ("bob", "mixed")):
            while (item := claims.next_item(db, name)).domain != POSTGRES:
                decisions.decide_domain(db, item, name, "code")
            decisions.decide(db, item.id, name, docs, "code", reason="docs")
            decisions.decide_domain(db, item, name, host_label)
        review.resolve(db, f"{POSTGRES}/", "code", "rita")
        second = Round(number=2, status="done", crawl_id="CC-MAIN-DEV")
        db.add(second)
        db.commit()
        store = Store(str(world.data_dir))
        for loc in ROUND_WARCS:  # round 2 saw the same pages
            db.add(WarcTask(round_id=second.id, phase="recall", warc_url=loc, status="done"))
            store.write_table(index_path(2, loc), pq.read_table(store.path(index_path(1, loc))))
        db.commit()
        queue.enqueue(db, [QueueItem(round_id=second.id, domain=POSTGRES, priority=9.0, reason="near_threshold")])
    at = app("alice")
    assert title(at) == POSTGRES and "left in round 2" in at.caption[0].value
    (before,) = [e for e in at.expander if e.label.startswith("Labelled before")]
    assert before.label == "Labelled before: 5 labels, 2 agreed (pre-filled below)"
    table = next(d.value for d in at.dataframe if "by" in d.value.columns)
    assert list(zip(table["pattern"], table["label"], table["by"], strict=True))[-1] == (
        f"{POSTGRES}/", "code", "rita (reviewer's resolution)")
    assert list(table["when"]) == ["round 1"] * 4 + ["review"]
    options = at.radio[0].options
    assert options[0].endswith("→ code (agreed before)") and options[1].endswith("→ code (agreed before)")
    assert "agreed" not in options[2] and at.radio[0].value == 2  # the first pattern still open is selected
    assert at.text_input(key="edit-5").value == f"{POSTGRES}/docs/15/catalog-"


def test_one_page_domains_empty_pages_and_queue_reasons_read_well(world: World) -> None:
    """Issue 12.17: "1 page", no empty sample ("score 0.000", no text), the queue's reason and details explained."""
    with session(world.db_url) as db:
        rid = db.get(QueueItem, 1).round_id
        queue.enqueue(db, [QueueItem(round_id=rid, domain="www.clarin.com", priority=9.0, kind="audit",
                                     reason="audit:none", details={"pages": 1, "recalled": 0, "stratum": "none"})])
    at = app("alice")
    assert title(at) == "www.clarin.com" and not at.exception
    assert at.radio[0].options == ["`www.clarin.com/` — 1 page, 0% recalled"]
    assert [i.value for i in at.info] == ["None of these pages has extracted text to show."]
    assert "a random audit: the model recalled none of its pages" in at.caption[0].value
    assert "audit:none" not in at.caption[0].value and not at.json
    (why,) = [e for e in at.expander if e.label == "Why this domain was queued"]
    details = next(d.value for d in at.dataframe if "meaning" in d.value.columns)
    assert dict(zip(details["figure"], details["meaning"], strict=True))["stratum"].startswith("audit group")
    view = item_view.item_view(world.settings, rid, "docs.djangoproject.com")  # one of its pages has no text
    samples = [s for p in view["proposals"] for s in p["samples"]]
    assert samples and all(s["snippet"] and s["blocks"] for s in samples)
    assert "https://docs.djangoproject.com/en/3.2/topics/http/" not in {s["url"] for s in samples}


def test_a_label_stays_on_the_claimed_domains_site(world: World) -> None:
    """Editing the pattern field to another host (or a look-alike IDN host) stored a label for it; now the field is
    refused with the reason, and a pattern on the site is stored in its ASCII form."""
    at = app("alice")
    assert title(at) == KERNEL
    for foreign in ("evil.example.com/", "mirrors.edge.kernеl.org/pub/"):  # the second with a Cyrillic е
        at.text_input(key="edit-1").set_value(foreign).run()
        click(at, "Code")
        assert any("outside the claimed domain's site (kernel.org)" in e.value for e in at.error), foreign
    at.text_input(key="edit-1").set_value("KERNEL.org/pub/").run()  # the whole site: allowed
    click(at, "Not code")
    with session(world.db_url) as db:
        rows = db.exec(select(Label)).all()
        assert [(r.pattern, r.label) for r in rows] == [("kernel.org/pub/", "non-code")]
        item = claims.next_item(db, "alice")
        with pytest.raises(ValueError, match="outside"):  # the queue's own write path refuses it too
            queue.complete(db, item.id, "alice", [{"pattern": "evil.example.com/", "label": "code"}])
        assert db.get(QueueItem, item.id).status == "claimed" and len(db.exec(select(Label)).all()) == 1


def test_progress_counts_every_label_source_with_one_today(world: World) -> None:
    """bob's API labels counted 0 on the Progress page although they had a kappa; items today counted only items
    with a label of today (an item finished with "Done" and no label was missing)."""
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice")
        decisions.decide(db, item.id, "alice", GIT_DOCS, "code")
        decisions.decide_domain(db, item, "alice", "code")  # item 1: two labels
        item = claims.next_item(db, "alice")
        decisions.finish(db, item.id, "alice")  # item 2: done with no label
        api = [{"pattern": GIT_DOCS, "label": "code"}, {"pattern": f"{KERNEL}/", "label": "mixed"},
               {"url": f"https://{GOLD}/3/", "label": "code"}]  # fmt: skip
        labels.import_labels(db, api, annotator="bob", source="api")
        data = dashboard.progress(db)
    people = {p["annotator"]: p for p in data["annotators"]}
    assert (people["bob"]["labels"], people["bob"]["labeled_today"], people["bob"]["items_today"]) == (3, 3, 0)
    assert (people["alice"]["labels"], people["alice"]["items_today"]) == (2, 2)
    assert people["bob"]["kappa"] is not None and data["today"] == utcnow().date().isoformat()
    at = app("alice").switch_page("app_pages/progress.py").run()
    shown = at.dataframe[1].value.set_index("annotator")
    assert shown.loc["bob", "labels"] == 3 and shown.loc["alice", "items_today"] == 2
    assert any("in UTC" in c.value for c in at.caption) and not at.exception


def test_the_label_page_counts_the_items_left_and_done_today(world: World) -> None:
    """A progress line on the Label page itself: items left in the round, and done today by this annotator."""
    at = app("alice")
    assert at.caption[0].value.startswith("**4 left in round 1 · 0 done today by you (UTC)**")
    click(at, "Domain: code")
    click(at, "Skip domain")  # a skip is not an item done, and the item stays open for the others
    assert at.caption[0].value.startswith("**3 left in round 1 · 1 done today by you (UTC)**")
    with session(world.db_url) as db:
        while (item := claims.next_item(db, "alice")) is not None:
            decisions.finish(db, item.id, "alice")
    at = app("alice")
    assert title(at) == "Label" and at.caption[0].value == "3 done today by you (UTC)"


def test_the_models_suggestion_is_prefilled_and_one_key_accepts_it(world: World) -> None:
    """Argilla's suggestions, Prodigy's model in the loop: each proposal shows the model's answer with its
    confidence, and A accepts it; audit and gold items show none (they measure the model and the annotators)."""
    at = app("alice")
    at.radio[0].set_value(1).run()  # the git docs directory: every page recalled
    assert at.radio[0].options[1].endswith("· model: code 100%")
    (accept,) = [b for b in at.button if b.label.startswith("Accept")]
    assert accept.label == "Accept: code (100%)" and accept.proto.shortcut.lower() == "a"
    click(at, "Accept: code (100%)")
    with session(world.db_url) as db:
        (row,) = db.exec(select(Label)).all()
        assert (row.pattern, row.label) == (GIT_DOCS, "code")
        assert row.shown["suggestion"] == {"label": "code", "confidence": 1.0}
        while (item := claims.next_item(db, "alice")).kind != "audit":
            decisions.decide_domain(db, item, "alice", "code")
    at = app("alice")
    assert not [b for b in at.button if b.label.startswith("Accept")] and "model:" not in " ".join(at.radio[0].options)
    assert any("No model suggestion on audit and gold items" in c.value for c in at.caption)
