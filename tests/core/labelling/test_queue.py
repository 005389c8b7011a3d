"""The annotation queue: priority order, leases, one holder per item, double labeling, expiry."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlmodel import col, select

from webrecall.core import db as dbm
from webrecall.core.db import QueueItem, utcnow
from webrecall.core.labelling import queue


def _fill(url: str, priorities: dict[str, float], **extra) -> None:
    with dbm.session(url) as db:
        queue.enqueue(db, [QueueItem(round_id=1, domain=d, priority=p, **extra) for d, p in priorities.items()])


def test_claims_follow_priority_and_enqueue_is_idempotent(db_url):
    _fill(db_url, {"low.org": 0.1, "high.org": 3.0, "mid.org": 1.0})
    _fill(db_url, {"high.org": 9.0})  # already queued this round: not added again
    with dbm.session(db_url) as db:
        got = [queue.claim(db, f"ann{i}").domain for i in range(3)]
        assert got == ["high.org", "mid.org", "low.org"]
        assert queue.claim(db, "ann9") is None
        assert queue.counts(db, 1)["status"] == {"claimed": 3}


def test_a_lease_keeps_others_out_until_it_expires(db_url):
    _fill(db_url, {"a.org": 1.0})
    with dbm.session(db_url) as db:
        item = queue.claim(db, "alice", lease_seconds=60)
        assert item is not None and item.claimed_by == "alice" and 0 < queue.lease_left(item) <= 60
        assert queue.claim(db, "bob") is None
        with pytest.raises(queue.LeaseError):
            queue.renew(db, item.id, "bob")
        renewed = queue.renew(db, item.id, "alice", lease_seconds=600)
        assert queue.lease_left(renewed) > 500
        assert queue.expire(db) == 0
        assert queue.expire(db, now=utcnow() + timedelta(seconds=601)) == 1
        taken = queue.claim(db, "bob")
        assert taken is not None and taken.id == item.id and taken.claimed_by == "bob"
        with pytest.raises(queue.LeaseError):  # alice's lease lapsed and bob took over
            queue.complete(db, item.id, "alice", [{"pattern": "a.org/", "label": "code"}])


def test_an_expired_claim_is_taken_over_without_expire(db_url):
    _fill(db_url, {"a.org": 1.0})
    with dbm.session(db_url) as db:
        assert queue.claim(db, "alice", lease_seconds=-1) is not None  # already lapsed
        assert queue.claim(db, "bob").claimed_by == "bob"


def test_complete_appends_labels_with_context_and_double_labeling_needs_two_people(db_url):
    _fill(db_url, {"a.org": 1.0}, labels_needed=2)
    with dbm.session(db_url) as db:
        item = queue.claim(db, "alice")
        done = queue.complete(db, item.id, "alice", [{"pattern": "a.org/docs/", "label": "code", "reason": "api"}],
                              shown={"samples": ["https://a.org/docs/x"]})  # fmt: skip
        assert done.status == "pending" and done.labeled_by == ["alice"]
        assert queue.claim(db, "alice") is None  # the second label must come from someone else
        again = queue.claim(db, "bob")
        assert again.id == item.id
        assert queue.complete(db, item.id, "bob", [{"pattern": "a.org/docs/", "label": "code"}]).status == "done"
        labels = db.exec(select(dbm.Label).order_by(dbm.Label.id)).all()
        assert [(x.annotator, x.queue_item_id, x.round_id, x.scope) for x in labels] == [
            ("alice", item.id, 1, "pattern"), ("bob", item.id, 1, "pattern")]  # fmt: skip
        assert labels[0].shown == {"samples": ["https://a.org/docs/x"]} and labels[0].reason == "api"
        assert queue.counts(db, 1) == {"items": 1, "status": {"done": 1}, "kind": {"uncertain": 1}, "labels": 2,
                                          "done_kind": {"uncertain": 1}, "labelled_kind": {"uncertain": 1}, "skips": 0}


def test_bad_labels_write_nothing_and_keep_the_claim(db_url):
    _fill(db_url, {"a.org": 1.0})
    with dbm.session(db_url) as db:
        item = queue.claim(db, "alice")
        with pytest.raises(ValueError, match="maybe"):
            queue.complete(db, item.id, "alice", [{"pattern": "a.org/", "label": "maybe"}])
        assert db.exec(select(dbm.Label)).all() == []
        assert queue.release(db, item.id, "alice").status == "pending"
        item = queue.claim(db, "alice")
        assert queue.skip(db, item.id, "alice", "site gone").status == "pending"
        assert queue.claim(db, "alice") is None and queue.claim(db, "bob").id == item.id  # open for the others


def test_a_skip_is_one_annotators(db_url):
    """Skip (0) used to take the item out of the queue for the whole team; as in Prodigy and Argilla, it is the
    skipping annotator's only, and the item goes back to the queue for the others."""
    _fill(db_url, {"a.org": 2.0, "b.org": 1.0})
    with dbm.session(db_url) as db:
        item = queue.claim(db, "alice")
        queue.skip(db, item.id, "alice", "site gone")
        assert queue.claim(db, "alice").domain == "b.org"  # not a.org again for her
        taken = queue.claim(db, "bob")
        assert (taken.domain, taken.claimed_by) == ("a.org", "bob")  # the others still get it
        queue.complete(db, taken.id, "bob", [{"pattern": "a.org/", "label": "code"}])
        skip = queue.last_skip(db, "alice")
        assert (skip.queue_item_id, skip.reason) == (item.id, "site gone") and queue.last_skip(db, "bob") is None
        assert queue.counts(db, 1)["skips"] == 1
        undone = queue.unskip(db, item.id, "alice")  # bob finished it meanwhile: only her skip goes
        assert undone.status == "done" and queue.last_skip(db, "alice") is None


def test_concurrent_claims_never_share_an_item(db_url):
    _fill(db_url, {f"d{i}.org": float(i) for i in range(40)})
    got: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        with dbm.session(db_url) as db:
            while (item := queue.claim(db, name)) is not None:
                with lock:
                    got.append(item.domain)

    threads = [threading.Thread(target=worker, args=(f"ann{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"d{i}.org" for i in range(40))  # each item exactly once


def test_reopen_gives_a_finished_item_back_to_its_annotator_unless_someone_holds_it(db_url):
    _fill(db_url, {"a.org": 1.0})
    with dbm.session(db_url) as db:
        item = queue.claim(db, "alice")
        queue.complete(db, item.id, "alice", [{"pattern": "a.org/", "label": "code"}])
        back = queue.reopen(db, item.id, "alice", lease_seconds=60)
        assert back.status == "claimed" and back.claimed_by == "alice" and back.labeled_by == []
        with pytest.raises(queue.LeaseError):
            queue.reopen(db, item.id, "bob")
        assert queue.complete(db, item.id, "alice", []).status == "done"


@pytest.mark.services
def test_claims_racing_on_postgres_never_share_an_item(postgres_db):
    """On SQLite `BEGIN IMMEDIATE` serialises claims whatever the query; on PostgreSQL only `FOR UPDATE SKIP LOCKED`
    keeps eight annotators claiming at once from taking the same row."""
    dbm.migrate(postgres_db)
    with dbm.session(postgres_db) as db:
        rnd = dbm.Round(number=1)
        db.add(rnd)
        db.commit()
        queue.enqueue(db, [QueueItem(round_id=rnd.id or 0, domain=f"d{i}.org", priority=float(i % 7))
                           for i in range(200)])  # fmt: skip
    got: list[tuple[str, int]] = []
    lock, start = threading.Lock(), threading.Barrier(8)

    def worker(name: str) -> None:
        with dbm.session(postgres_db) as db:
            start.wait()
            while (item := queue.claim(db, name)) is not None:
                with lock:
                    got.append((name, item.id or 0))

    threads = [threading.Thread(target=worker, args=(f"ann{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for _, i in got]
    assert len(ids) == len(set(ids)) == 200, f"{len(ids) - len(set(ids))} claims of an item someone else held"
    assert len({name for name, _ in got}) > 1  # they did race
    with dbm.session(postgres_db) as db:
        holders = {i.id: i.claimed_by for i in db.exec(select(QueueItem))}
    assert holders == {i: name for name, i in got}


def test_a_new_round_supersedes_the_open_items_of_the_domains_it_queues_again(db_url):
    """Round 2 queued while round 1's items were open: each domain was served twice, and its round-1 item came back
    right after its round-2 one was labelled."""
    _fill(db_url, {"a.org": 3.0, "b.org": 2.0, "c.org": 1.0, "gold.org": 0.5})
    with dbm.session(db_url) as db:
        gold = db.exec(select(QueueItem).where(QueueItem.domain == "gold.org")).one()
        gold.kind = "gold"
        db.add(gold)
        db.add(dbm.Round(number=2))
        db.commit()
        held = queue.claim(db, "alice")  # a.org, round 1: alice is reading it when round 2 starts
        assert held.domain == "a.org"
        r2 = db.exec(select(dbm.Round).where(dbm.Round.number == 2)).one().id
        queue.enqueue(db, [QueueItem(round_id=r2, domain=d) for d in ("a.org", "b.org", "gold.org", "d.org")])
        status = {(i.round_id, i.domain): i.status for i in db.exec(select(QueueItem))}
        assert status[(1, "b.org")] == "superseded" and status[(1, "c.org")] == "pending"
        assert status[(1, "a.org")] == "claimed" and status[(1, "gold.org")] == "pending"  # held; gold stays
        assert db.get(QueueItem, held.id).details["superseded_by"] == 2
        queue.release(db, held.id, "alice")  # her claim ends: the item does not go back to the queue
        assert db.get(QueueItem, held.id).status == "superseded"
        served = []
        while (item := queue.claim(db, "bob")) is not None:
            served.append((item.round_id, item.domain))
            queue.complete(db, item.id, "bob", [])
        assert sorted(served) == [(1, "c.org"), (1, "gold.org"), (r2, "a.org"), (r2, "b.org"), (r2, "d.org"),
                                  (r2, "gold.org")]  # each domain once, and the gold item  # fmt: skip
        assert queue.counts(db, 1)["status"] == {"superseded": 2, "done": 2}
        _fill(db_url, {"d.org": 1.0, "e.org": 1.0})  # a late rerun of round 1's discovery
        status = {(i.round_id, i.domain): i.status for i in db.exec(select(QueueItem).where(QueueItem.round_id == 1))}
        assert status[(1, "d.org")] == "superseded" and status[(1, "e.org")] == "pending"


@pytest.mark.services
def test_skips_and_racing_claims_on_postgres(postgres_db):
    """Eight annotators race on PostgreSQL (row locks with SKIP LOCKED, not SQLite's one writer), each skipping
    some items: every item is finished exactly once, never by an annotator who skipped it."""
    dbm.migrate(postgres_db)
    with dbm.session(postgres_db) as db:
        db.add(dbm.Round(number=1))
        db.commit()
    _fill(postgres_db, {f"d{i:02d}.org": float(i % 7) for i in range(60)})
    skipped: dict[int, set[str]] = {}
    errors: list[Exception] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            with dbm.session(postgres_db) as db:
                while True:
                    if (item := queue.claim(db, name)) is None:  # all taken: done, or another's skip frees one
                        open_ = db.exec(select(QueueItem).where(col(QueueItem.status).in_(["pending", "claimed"])))
                        if all(name in skipped.get(i.id, ()) for i in open_):
                            return
                        time.sleep(0.01)
                        continue
                    if (item.id + int(name[1:])) % 4 == 0:  # this annotator cannot judge it
                        queue.skip(db, item.id, name)
                        with lock:
                            skipped.setdefault(item.id, set()).add(name)
                    else:
                        queue.complete(db, item.id, name, [])
        except Exception as exc:  # a LeaseError here would mean two holders
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"a{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with dbm.session(postgres_db) as db:
        items = db.exec(select(QueueItem)).all()
    assert errors == [] and skipped
    assert [(i.domain, i.status, i.labeled_by) for i in items if i.status != "done" or len(i.labeled_by) != 1] == []
    assert all(not (set(i.labeled_by) & skipped.get(i.id, set())) for i in items)
