"""The annotators' work without the UI (core.labelling: accounts, claims, decisions, review, dashboard, item_view):
accounts, tokens, decisions, undo, review, gold, kappa, progress."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.annotator.conftest import GIT_DOCS, KERNEL, POSTGRES, World
from webrecall.core import label_store as labels
from webrecall.core.db import Label, QueueItem, Round, session, utcnow
from webrecall.core.labelling import accounts, claims, dashboard, decisions, item_view, queue, review


def test_accounts_and_tokens(world: World) -> None:
    with session(world.db_url) as db:
        alice = accounts.verify(db, "alice", "alice-password")
        assert alice is not None and alice.password_hash.startswith("$2")
        assert accounts.verify(db, "alice", "wrong-password") is None
        assert accounts.verify(db, "nobody", "alice-password") is None
        with pytest.raises(ValueError, match="exists"):
            accounts.create_account(db, "alice", "another-password")
        with pytest.raises(ValueError, match="role"):
            accounts.create_account(db, "carl", "carl-password", "boss")
        token = accounts.session_token(alice)
        assert accounts.from_token(db, token) == alice
        assert accounts.from_token(db, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
        assert accounts.from_token(db, token, now=utcnow().timestamp() + 13 * 3600) is None
        assert accounts.from_token(db, token.replace("alice", "bob", 1)) is None  # signed for alice only
        accounts.set_active(db, "alice", False)
        assert accounts.from_token(db, token) is None and accounts.verify(db, "alice", "alice-password") is None
        accounts.set_active(db, "alice", True)
        assert accounts.from_token(db, token) == alice
    assert accounts.has_role("admin", "reviewer") and not accounts.has_role("annotator", "reviewer")


def test_decide_finish_and_undo_reopens(world: World) -> None:
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice")
        assert item is not None and item.domain == KERNEL
        assert claims.next_item(db, "alice").id == item.id  # a refresh resumes the same claim
        decisions.decide(db, item.id, "alice", GIT_DOCS, "code", reason="docs", shown={"x": 1})
        decisions.decide_domain(db, item, "alice", "mixed")
        assert decisions.item_decisions(db, "alice", item.id) == {GIT_DOCS: "code",
                                                               f"{KERNEL}/": "mixed"}
        second = claims.next_item(db, "alice")
        assert second is not None and second.domain == POSTGRES
        undone = decisions.undo_last(db, "alice")  # the domain label: its item comes back, the other returns
        assert undone is not None and undone.pattern == f"{KERNEL}/"
        assert claims.held_item(db, "alice").id == item.id
        assert db.get(QueueItem, second.id).status == "pending"
        assert (f"{KERNEL}/", "alice") not in labels.current(db)
        assert labels.current(db)[(GIT_DOCS, "alice")].label == "code"
        assert decisions.undo_last(db, "alice").pattern == GIT_DOCS
        assert decisions.undo_last(db, "alice") is None
        assert len(db.exec(select(Label)).all()) == 4  # 2 labels + 2 undo rows: nothing was deleted


def test_undo_takes_back_skips_and_labels_newest_first(world: World) -> None:
    with session(world.db_url) as db:
        first = claims.next_item(db, "alice")
        queue.skip(db, first.id, "alice", "site gone")
        second = claims.next_item(db, "alice")
        decisions.decide(db, second.id, "alice", f"{second.domain}/a/", "code")
        assert decisions.undo_last(db, "alice").pattern == f"{second.domain}/a/"  # the label came last
        assert db.get(QueueItem, first.id).status == "pending"  # for the others
        assert queue.last_skip(db, "alice").queue_item_id == first.id
        undone = decisions.undo_last(db, "alice")  # then the skip: claimed again, the held item goes back
        assert isinstance(undone, QueueItem) and undone.id == first.id
        assert claims.held_item(db, "alice").id == first.id
        assert db.get(QueueItem, second.id).status == "pending"
        assert decisions.undo_last(db, "alice") is None
        with pytest.raises(queue.LeaseError, match="not skipped"):
            queue.unskip(db, first.id, "bob")


def test_lost_lease_refuses_the_decision(world: World) -> None:
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice", lease_seconds=1)
        assert queue.expire(db, now=utcnow() + timedelta(seconds=5)) == 1
        assert claims.next_item(db, "bob").id == item.id
        with pytest.raises(queue.LeaseError):
            decisions.decide(db, item.id, "alice", f"{KERNEL}/", "code")


def test_an_open_page_keeps_its_lease_while_its_annotator_is_active(world: World) -> None:
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice", lease_seconds=1)
        assert claims.keep_alive(db, "alice", item.id, idle_seconds=600)  # reading for 10 min: still theirs
        assert queue.lease_left(db.get(QueueItem, item.id)) > claims.LEASE_SECONDS - 5
        assert queue.expire(db, now=utcnow() + timedelta(seconds=60)) == 0
        before = db.get(QueueItem, item.id).lease_until
        assert not claims.keep_alive(db, "alice", item.id, idle_seconds=claims.MAX_IDLE_SECONDS + 1)
        assert db.get(QueueItem, item.id).lease_until == before  # a tab left open is not renewed
        assert queue.expire(db, now=utcnow() + timedelta(seconds=claims.LEASE_SECONDS + 5)) == 1
        assert claims.next_item(db, "bob").id == item.id
        assert not claims.keep_alive(db, "alice", item.id, idle_seconds=0)  # bob holds it now
        assert db.get(QueueItem, item.id).claimed_by == "bob"


def test_review_gold_kappa_progress(world: World) -> None:
    with session(world.db_url) as db:
        for name, forum in (("alice", "code"), ("bob", "non-code")):
            while (item := claims.next_item(db, name)) is not None:
                decisions.decide_domain(db, item, name, forum if item.domain == POSTGRES else "code")
        (case,) = review.disagreements(db)
        assert case["pattern"] == f"{POSTGRES}/" and [r["label"] for r in case["labels"]] == ["code", "non-code"]
        review.resolve(db, f"{POSTGRES}/", "code", "rita")
        assert review.disagreements(db) == [] and labels.resolved(db)[0][f"{POSTGRES}/"] == "code"
        gold = {g["annotator"]: g for g in review.gold_accuracy(db)}
        assert gold["alice"]["accuracy"] == 1.0 and gold["bob"]["answered"] == 1
        agree = dashboard.agreement(db)
        assert agree["pairs"] == 2 and agree["kappa"] == 0.0  # both labeled forum (disagree) and gold (agree)
        assert dashboard.cohen_kappa([("code", "code"), ("non-code", "non-code")]) == 1.0
        assert dashboard.cohen_kappa([("code", "non-code"), ("non-code", "code")]) == -1.0
        assert dashboard.cohen_kappa([]) is None
        data = dashboard.progress(db)
        r1 = next(r for r in data["rounds"] if r["round"] == 1)
        assert r1["queue_left"] == 1 and r1["labeled_today"] == 6  # the gold item stays for everyone
        assert {a["annotator"]: a["items_today"] for a in data["annotators"]}["alice"] == 4
        heldout = db.exec(select(Round).where(Round.number == 1)).one().totals["model"]["seed_heldout"]
        assert [g["round"] for g in data["growth"]] == [1] and data["growth"][0]["f1"] == heldout["f1"]


def test_item_view_tree_and_code_lines(world: World) -> None:
    with session(world.db_url) as db:
        item = claims.next_item(db, "alice")
    view = item_view.item_view(world.settings, item.round_id, item.domain)
    # every page sits under /pub/software/scm/git/docs/: that prefix and the sections inside it are proposed
    assert [(p["pattern"], p["depth"], p["pages"]) for p in view["proposals"]] == [
        (f"{KERNEL}/", 0, 65), (GIT_DOCS, 1, 65), (f"{GIT_DOCS}git-", 2, 47), (f"{GIT_DOCS}howto/", 2, 2),
        (f"{GIT_DOCS}technical/", 2, 3)]  # fmt: skip
    docs = view["proposals"][1]
    assert docs["fraction"] == 1.0 and len(docs["samples"]) == 5
    lines = {row["text"]: row["code_like"] for s in docs["samples"] for b in s["blocks"] for row in b["lines"]}
    synopsis = [line for line in lines if line.lstrip().startswith("git ") and "<" in line]  # in a code block
    assert synopsis and all(lines[line] for line in synopsis)
    assert not any(ok for line, ok in lines.items() if line.startswith("Part of the git(1) suite"))  # prose


def test_a_flat_directory_splits_by_file_name_sections(world: World) -> None:
    """All 125 www.postgresql.org pages sit in /docs/15/: the sections of the file names split them."""
    with session(world.db_url) as db:
        rid = db.get(QueueItem, 2).round_id
    found = {p["pattern"]: p["pages"] for p in item_view.item_view(world.settings, rid, POSTGRES)["proposals"]}
    assert found[f"{POSTGRES}/"] == found[f"{POSTGRES}/docs/15/"] == 125
    assert found[f"{POSTGRES}/docs/15/sql-"] == 20 and found[f"{POSTGRES}/docs/15/catalog-"] == 9
    assert f"{POSTGRES}/docs/" not in found and all(n >= 3 for n in found.values())


def test_a_concurrent_burst_shares_no_item_and_loses_no_label(world: World) -> None:
    """Four annotators in threads claim and label through the functions the app's callbacks call."""
    with session(world.db_url) as db:
        burst_round = Round(number=99, status="done")
        db.add(burst_round)
        db.commit()
        rid = burst_round.id
        queue.enqueue(db, [QueueItem(round_id=rid, domain=f"burst{i:02d}.example", priority=2.0) for i in range(40)])
    seen: dict[str, list[str]] = {f"ann{i}": [] for i in range(4)}
    errors: list[BaseException] = []
    start = threading.Barrier(len(seen))

    def work(name: str) -> None:
        try:
            start.wait()
            while True:
                with session(world.db_url) as db:
                    item = queue.claim(db, name, lease_seconds=claims.LEASE_SECONDS, round_id=rid)
                    if item is None:
                        return
                    seen[name].append(item.domain)
                    decisions.decide_domain(db, item, name, "non-code", reason="spam")
        except BaseException as exc:  # noqa: B036 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    claimed = [d for v in seen.values() for d in v]
    assert len(claimed) == len(set(claimed)) == 40  # every item once, none twice
    with session(world.db_url) as db:
        burst = db.exec(select(Label).where(Label.pattern.startswith("burst"))).all()
        items = db.exec(select(QueueItem).where(QueueItem.domain.startswith("burst"))).all()
    assert len(burst) == 40 and {(label.annotator, label.pattern.split("/")[0]) for label in burst} == {
        (n, d) for n, v in seen.items() for d in v
    }
    assert all(i.status == "done" for i in items)
