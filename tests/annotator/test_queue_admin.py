"""Issue 12.14 and the account commands of 12.17: double annotation per round, gold items and accounts from the CLI
and the API, and agreement over every label source."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner

from tests.annotator.conftest import GIT_DOCS, GOLD, KERNEL, NEWS, POSTGRES, World
from webrecall.api.main import create_app
from webrecall.cli.main import app as cli
from webrecall.core import label_store as labels
from webrecall.core.db import QueueItem, Round, session
from webrecall.core.labelling import accounts, claims, dashboard, decisions, queue, review
from webrecall.core.settings import Settings

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def run(*args: str, code: int = 0) -> dict | list:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else {"output": result.output}


def api(world: World) -> TestClient:
    return TestClient(create_app(Settings(database_url=world.db_url, data_dir=str(world.data_dir), api_token=TOKEN)))


def test_kappa_counts_labels_imported_through_the_api(world: World) -> None:
    with api(world) as c:
        for name, news in (("alice", "non-code"), ("bob", "mixed")):
            rows = [{"pattern": GIT_DOCS, "label": "code"}, {"pattern": f"{NEWS}/news/", "label": news}]
            assert c.post("/labels", json={"annotator": name, "labels": rows}, headers=AUTH).status_code == 201
    with session(world.db_url) as db:
        agree = dashboard.agreement(db)
        review.resolve(db, f"{NEWS}/news/", "non-code", "rita")  # a resolution is not a vote
        assert dashboard.agreement(db) == agree
    # one agreement, one disagreement: observed 0.5, chance 0.25, kappa (0.5 - 0.25) / 0.75
    assert agree["pairs"] == 2 and agree["by_annotator"]["alice"] == {"kappa": 0.3333, "pairs": 2}


def test_double_annotation_is_switched_per_round_from_the_cli_and_the_api(world: World) -> None:
    with session(world.db_url) as db:
        first = claims.next_item(db, "alice")
        decisions.decide_domain(db, first, "alice", "code")  # KERNEL: done with one label
        assert db.get(QueueItem, first.id).status == "done"
    out = run("round", "labels-needed", "1", "2")
    assert out == {"round": 1, "labels_needed": 2, "items": 3, "reopened": 1, "finished": 0}
    with session(world.db_url) as db:
        items = {i.domain: i for i in db.exec(select(QueueItem))}
        assert {d: i.labels_needed for d, i in items.items()} == {KERNEL: 2, POSTGRES: 2, NEWS: 2, GOLD: 1000}
        assert items[KERNEL].status == "pending"
        assert claims.next_item(db, "bob").domain == KERNEL  # the second annotator gets it
        rid = items[KERNEL].round_id
        queue.enqueue(db, [QueueItem(round_id=rid, domain="docs.sqlalchemy.org")])  # discovery adds one later
        assert db.exec(select(QueueItem).where(QueueItem.domain == "docs.sqlalchemy.org")).one().labels_needed == 2
        assert db.get(Round, rid).params["labels_needed"] == 2
    with api(world) as c:
        assert c.patch("/queue/rounds/1", json={"labels_needed": 1}).status_code == 401
        assert c.patch("/queue/rounds/1", json={"labels_needed": 0}, headers=AUTH).status_code == 422
        assert c.patch("/queue/rounds/9", json={"labels_needed": 1}, headers=AUTH).status_code == 404
        back = c.patch("/queue/rounds/1", json={"labels_needed": 1}, headers=AUTH).json()
        assert back == {"round": 1, "labels_needed": 1, "items": 4, "reopened": 0, "finished": 0}
    run("round", "labels-needed", "7", "2", code=2)


def test_gold_items_from_the_cli_and_the_api(world: World) -> None:
    listed = run("gold", "list")
    assert [(g["domain"], g["answers"]) for g in listed["items"]] == [(GOLD, {f"{GOLD}/": "code"})]
    added = run("gold", "add", "docs.djangoproject.com", "--round", "1", "--answer", "docs.djangoproject.com/=code")
    assert added == {"domain": "docs.djangoproject.com", "round": 1, "status": "added"}
    run("gold", "add", "docs.djangoproject.com", "--round", "1", "--answer", "other.org/=code", code=2)
    run("gold", "add", "httpd.apache.org", "--round", "1", "--answer", "httpd.apache.org/", code=2)
    with api(world) as c:
        body = {"round": 1, "domain": "Docs.SQLAlchemy.org", "answers": {"docs.sqlalchemy.org/en/20/": "code"}}
        assert c.post("/queue/gold", json=body).status_code == 401
        made = c.post("/queue/gold", json=body, headers=AUTH)
        assert made.status_code == 201 and made.json()["domain"] == "docs.sqlalchemy.org"
        assert c.post("/queue/gold", json=body, headers=AUTH).status_code == 409
        assert c.post("/queue/gold", json={**body, "answers": {"x.org/": "maybe"}}, headers=AUTH).status_code == 422
        gold = c.get("/queue/gold").json()
        assert [g["domain"] for g in gold["data"]] == [GOLD, "docs.djangoproject.com", "docs.sqlalchemy.org"]
        assert c.delete(f"/queue/gold/{made.json()['id']}", headers=AUTH).status_code == 200
        assert c.delete("/queue/gold/1", headers=AUTH).status_code == 404  # a queue item, not gold
    removed = run("gold", "remove", str(gold["data"][1]["id"]))
    assert removed["status"] == "removed"
    assert [g["domain"] for g in run("gold", "list")["items"]] == [GOLD]
    with session(world.db_url) as db:  # a removed gold item is no longer handed out
        seen = []
        while (item := claims.next_item(db, "alice")) is not None:
            seen.append(item.domain)
            decisions.decide_domain(db, item, "alice", "code")
        assert seen == [KERNEL, POSTGRES, NEWS, GOLD]
        assert labels.current(db)[(f"{GOLD}/", "alice")].label == "code"


def test_annotator_accounts_list_disable_and_remove(world: World) -> None:
    assert [(a["name"], a["role"], a["active"]) for a in run("annotators", "list")] == [
        ("ada", "admin", True), ("alice", "annotator", True), ("bob", "annotator", True), ("rita", "reviewer", True)]
    with session(world.db_url) as db:
        held = claims.next_item(db, "bob")
    assert run("annotators", "disable", "bob") == {"name": "bob", "active": False, "status": "disabled"}
    with session(world.db_url) as db:
        assert accounts.verify(db, "bob", "bob-password") is None
    run("annotators", "enable", "bob")
    assert run("annotators", "remove", "bob") == {"name": "bob", "status": "removed"}
    run("annotators", "remove", "bob", code=2)
    with session(world.db_url) as db:
        assert accounts.get_account(db, "bob") is None and db.get(QueueItem, held.id).status == "pending"
    assert [a["name"] for a in run("annotators", "list")] == ["ada", "alice", "rita"]
