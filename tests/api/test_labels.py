"""`POST /labels` and `POST /labels/{id}/retract`: what is refused and why, and retraction end to end."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH
from tests.core.urls.test_patterns import UNSAFE
from webrecall.api.main import create_app
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.labelling import accounts
from webrecall.core.queries import find_round


@pytest.fixture
def client(make_settings):  # type: ignore[no-untyped-def]
    settings = make_settings()
    with dbm.session(settings.db_url) as db:
        db.add(dbm.Round(number=1))
        db.commit()
        accounts.create_account(db, "alice", "alice-password")
    with TestClient(create_app(settings)) as c:
        c.settings = settings  # type: ignore[attr-defined]
        yield c


def _json(client: TestClient, path: str, body: object) -> tuple[int, str]:
    """POST with the body as `json.dumps` writes it (a lone surrogate as its `\\ud800` escape, as clients send it)."""
    resp = client.post(path, content=json.dumps(body).encode(), headers={**AUTH, "Content-Type": "application/json"})
    return resp.status_code, resp.text


def _post(client: TestClient, rows: list[dict], **body: object) -> tuple[int, str]:
    return _json(client, "/labels", {"labels": rows, **body})


def _history(client: TestClient) -> list[dict]:
    return [json.loads(line) for line in client.get("/labels").text.splitlines()]


@pytest.mark.parametrize(("bad", "reason"), UNSAFE)
def test_unsafe_patterns_are_refused_with_their_reason(client, bad, reason) -> None:  # type: ignore[no-untyped-def]
    code, text = _post(client, [{"pattern": bad, "label": "code"}], annotator="alice")
    assert code == 422 and reason in json.loads(text)["detail"][0]["msg"], text
    code, text = _json(client, "/rounds", {"crawl_id": "CC-MAIN-DEV", "seed_patterns": [bad]})
    assert code == 422 and reason in json.loads(text)["detail"][0]["msg"], text
    assert _history(client) == []


@pytest.mark.parametrize(
    ("row", "body", "reason"),
    [
        ({"pattern": "docs.python.org/", "round": 999}, {"annotator": "alice"}, "unknown round 999 (rounds are 1-1)"),
        ({"pattern": "docs.python.org/"}, {"annotator": "ghost"}, "unknown annotator account 'ghost'"),
        ({"url": "javascript:alert(1)"}, {}, "scheme 'javascript:'"),
        ({"url": "https://docs.python.org/\u202e"}, {}, "U+202E"),
    ],
)
def test_an_unknown_round_or_annotator_is_refused(client, row, body, reason) -> None:  # type: ignore[no-untyped-def]
    code, text = _post(client, [{"label": "code", **row}], **body)
    assert code in (400, 422) and reason in text, text
    assert _history(client) == []  # all rows or none


def test_operator_labels_and_an_accounts_labels_are_taken(client) -> None:  # type: ignore[no-untyped-def]
    assert _post(client, [{"pattern": "docs.python.org/", "label": "code", "round": 1}], annotator="alice")[0] == 201
    assert _post(client, [{"pattern": "evil.example.com/", "label": "non-code"}])[0] == 201  # any pattern, no vote
    rows = _history(client)
    assert [(r["pattern"], r["annotator"]) for r in rows] == [("docs.python.org/", "alice"), ("evil.example.com/", "")]
    with dbm.session(client.settings.db_url) as db:  # type: ignore[attr-defined]
        assert rows[0]["round_id"] == find_round(db, 1).id  # the round's id, not its number


@pytest.mark.parametrize("text", ["\ud800", "ok\udfff", "nul\x00"])
def test_text_no_database_can_hold_is_a_422(client, text) -> None:  # type: ignore[no-untyped-def]
    code, body = _post(client, [{"pattern": "docs.python.org/", "label": "code", "reason": text}], annotator="alice")
    assert code == 422 and re.search("lone surrogate U\\+D[8F]FF|lone surrogate U\\+D800|NUL character", body), body
    code, body = _post(client, [{"pattern": "docs.python.org/", "label": "perhaps", "reason": text}], annotator="alice")
    assert code == 422, body  # the handler echoes the bad input without failing on it
    code, body = _post(client, [{"pattern": "docs.python.org/", "label": "code", text: 1}], annotator="alice")
    assert code == 422, body  # a bad key too
    assert _history(client) == []


def test_a_label_is_retracted_once_with_a_reason(client) -> None:  # type: ignore[no-untyped-def]
    _post(client, [{"pattern": "docs.python.org/", "label": "code"}], annotator="alice")
    (label,) = _history(client)
    path = f"/labels/{label['id']}/retract"
    assert client.post(path, json={"reason": "a typo"}).status_code == 401
    assert client.post(path, json={"reason": "  "}, headers=AUTH).status_code == 422
    resp = client.post(path, json={"reason": "a typo"}, headers=AUTH)
    assert resp.status_code == 201, resp.text
    undo = resp.json()
    assert (undo["retracted"], undo["pattern"], undo["label"], undo["annotator"], undo["reason"]) == \
        (label["id"], "docs.python.org/", "code", "alice", "a typo")  # fmt: skip
    again = client.post(path, json={"reason": "twice"}, headers=AUTH)
    assert again.status_code == 409 and f"already retracted (by label {undo['id']})" in again.json()["detail"]
    itself = client.post(f"/labels/{undo['id']}/retract", json={"reason": "x"}, headers=AUTH)
    assert itself.status_code == 409 and "itself a retraction" in itself.json()["detail"]
    missing = client.post("/labels/4242/retract", json={"reason": "x"}, headers=AUTH)
    assert missing.status_code == 404 and "no label 4242" in missing.json()["detail"]
    history = _history(client)  # append-only: the label stays, the retraction follows it
    assert [(r["id"], r["source"], r["shown"].get("undoes")) for r in history] == \
        [(label["id"], "api", None), (undo["id"], "undo", label["id"])]  # fmt: skip
    with dbm.session(client.settings.db_url) as db:  # type: ignore[attr-defined]
        assert label_store.current(db) == {} and not label_store.has_code_labels(db)
        assert label_store.retracted_set(db).matches("https://docs.python.org/3/")
