"""Page items on the Label page: one page of a site, planned by
`labelling.page_items` from the world's real round-1 scores, shown with its text and code blocks; one key labels its
URL, and the label is a seed of the next round."""

from __future__ import annotations

from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from tests.annotator.conftest import APP, KERNEL, ROUND_WARCS, World, title
from tests.conftest import CACHE_ID
from webrecall.annotator.widgets import REASON_TEXT
from webrecall.core import label_store as labels
from webrecall.core.db import Label, QueueItem, session, utcnow
from webrecall.core.labelling import claims, decisions, queue
from webrecall.core.labelling.page_items import FENCE, KIND, label_page, plan_page_items, text_blocks
from webrecall.core.model.seeds import build_seeds
from webrecall.core.pipeline.partials import round_index
from webrecall.core.pipeline.passes import cache_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import url_key

STRICT = 0.9
"""A round whose threshold was chosen for high precision: the code blogs of small sites score just around it."""


def app(user: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["user"] = user
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def _pages(world: World) -> dict[str, dict]:
    store = Store(str(world.data_dir))
    rows = [pq.read_table(store.path(cache_path(loc, CACHE_ID)), columns=["url", "title", "text"]).to_pylist()
            for loc in ROUND_WARCS]  # fmt: skip
    return {r["url"]: r for part in rows for r in part}


def _queue_page_items(world: World, *, code_blocks: bool) -> list[QueueItem]:
    """The page items discovery would plan for round 1 at a strict threshold; the first whose page has (or has not)
    a code block goes to the front of the queue."""
    index = round_index(Store(str(world.data_dir)), 1, ROUND_WARCS, columns=["url", "domain", "score", "kept"])
    with session(world.db_url) as db:
        rid = db.get(QueueItem, 1).round_id
        queued = {i.domain for i in db.exec(select(QueueItem))}
        items = plan_page_items(index, rid, threshold=STRICT, coverage=labels.coverage_set(db), skip_domains=queued)
    pages = _pages(world)
    items.sort(key=lambda i: ((FENCE in (pages[i.details["url"]]["text"] or "")) != code_blocks,
                              i.details["domain_pages"] != 1))  # fmt: skip
    items[0].priority = 9.0
    with session(world.db_url) as db:
        queue.enqueue(db, items)
    return items


def test_a_page_item_shows_its_page_and_one_key_labels_its_url(world: World) -> None:
    items = _queue_page_items(world, code_blocks=True)
    first = items[0]
    url, page = first.details["url"], _pages(world)[first.details["url"]]
    assert FENCE in page["text"] and first.kind == KIND and first.details["domain_pages"] < 10
    at = app("alice")
    assert title(at) == page["title"] and not at.exception
    assert "page item" in at.caption[0].value and REASON_TEXT[first.reason] in at.caption[0].value
    assert url in [t.value for t in at.text]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Score"] == f"{first.details['score']:.3f}" and metrics["Pages of its site"] == "1"
    # the code blocks are shown as code, verbatim (indentation and all), the prose as text
    blocks, _ = text_blocks(page["text"])
    code = [b["text"] for b in blocks if b["code"]]
    assert code and [c.value for c in at.code] == code
    assert any("    " in c for c in code)  # the page's indented code, kept
    assert int(metrics["Code blocks"]) >= len(code)
    shortcuts = [b.proto.shortcut for b in at.button if b.label != "Log out"]
    suggested = not first.details.get("audit")
    assert all(shortcuts) and len(set(shortcuts)) == len(shortcuts) == 4 + suggested
    if suggested:  # the model's suggestion, not on audit pages
        kept = first.details["score"] >= 0.5
        assert any(b.label.startswith(f"Accept: {'code' if kept else 'not code'} (") for b in at.button)
    assert not any(b.label.startswith("Domain:") for b in at.button)  # one page, one key: no domain decisions
    click(at, "Code")
    assert title(at) == KERNEL and not at.exception  # the next item, a domain
    with session(world.db_url) as db:
        (row,) = db.exec(select(Label)).all()
        assert db.get(QueueItem, first.id).status == "done"
    assert (row.pattern, row.scope, row.label, row.annotator, row.queue_item_id) == \
        (url_key(url), "url", "code", "alice", first.id)  # fmt: skip
    assert row.shown["url"] == url and row.shown["code_blocks"] == len(code)
    click(at, "Undo last decision")  # back to the page, the label retracted
    assert title(at) == page["title"]
    with session(world.db_url) as db:
        assert labels.current(db) == {}
    click(at, "Code")
    # the URL label is a seed of the next round: the page is a positive (in training or among the held-out seeds)
    with session(world.db_url) as db:
        label_set = labels.pattern_set(db)
    train, heldout = build_seeds(Store(str(world.data_dir)), [cache_path(loc, CACHE_ID) for loc in ROUND_WARCS],
                                 labels=label_set, seed=2)  # fmt: skip
    found = [(s.labels[i], s.sources[i]) for s in (train, heldout) for i, u in enumerate(s.urls) if u == url]
    assert found == [(True, "pattern")]


def test_not_code_makes_a_hard_negative_and_a_lost_claim_keeps_no_label(world: World) -> None:
    items = _queue_page_items(world, code_blocks=False)
    url = items[0].details["url"]
    at = app("alice")
    assert title(at) == (_pages(world)[url]["title"] or url) and not at.code
    click(at, "Not code")
    with session(world.db_url) as db:
        label_set = labels.pattern_set(db)
        assert label_set.match(url)[1] == "non-code"
    train, heldout = build_seeds(Store(str(world.data_dir)), [cache_path(loc, CACHE_ID) for loc in ROUND_WARCS],
                                 labels=label_set, seed=2)  # fmt: skip
    found = [(s.labels[i], s.sources[i]) for s in (train, heldout) for i, u in enumerate(s.urls) if u == url]
    assert found == [(False, "hard_negative")]
    # a claim that ran out: the key saves nothing and says so
    with session(world.db_url) as db:
        second = db.get(QueueItem, items[1].id)
        second.priority = 10.0
        db.add(second)
        db.commit()
    at = app("bob")
    assert title(at) == (_pages(world)[items[1].details["url"]]["title"] or items[1].details["url"])
    with session(world.db_url) as db:
        queue.expire(db, now=utcnow() + timedelta(minutes=20))
        assert claims.next_item(db, "alice").id == items[1].id
    click(at, "Code")
    assert any("ran out" in w.value for w in at.warning)
    with session(world.db_url) as db:
        assert [r.annotator for r in db.exec(select(Label))] == ["alice"]


def test_progress_counts_domain_and_page_items(world: World) -> None:
    items = _queue_page_items(world, code_blocks=True)
    with session(world.db_url) as db:
        first = claims.next_item(db, "alice")
        label_page(db, first.id, "alice", code=True)
        while (item := claims.next_item(db, "alice")) is not None:  # the domain items; other pages skipped
            if item.kind == KIND:
                queue.skip(db, item.id, "alice")
            else:
                decisions.decide_domain(db, item, "alice", "code")
        domains = sum(1 for i in db.exec(select(QueueItem)) if i.labeled_by and i.kind != KIND)
    assert first.id == items[0].id and domains == 4  # three queued domains and the gold item
    at = app("alice").switch_page("app_pages/progress.py").run()
    rounds = at.dataframe[0].value
    assert list(rounds["domain_items_labelled"]) == [domains] and list(rounds["page_items_labelled"]) == [1]
    assert any(f"{domains} domain items and 1 page item " in c.value for c in at.caption) and not at.exception


@pytest.mark.parametrize("cut", [200, 100_000])
def test_text_blocks_keep_code_verbatim(world: World, cut: int) -> None:
    page = next(p for p in _pages(world).values() if (p["text"] or "").count(FENCE) >= 4)
    blocks, was_cut = text_blocks(page["text"], max_chars=cut)
    joined = "\n".join(b["text"] for b in blocks)
    assert was_cut == (len(page["text"]) > cut) and len(joined) <= max(cut, len(page["text"]))
    if not was_cut:
        fenced = page["text"].split(FENCE)[1::2]  # the text between each pair of fences
        assert [b["text"] for b in blocks if b["code"]] == [f.strip("\n") for f in fenced if f.strip()]
