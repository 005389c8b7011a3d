"""Bad input is a 4xx with the reason, never a 500; auth; settings that change the service's rules."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH
from tests.conftest import ROOT
from webrecall.api.main import create_app
from webrecall.core import db as dbm
from webrecall.core.lifecycle.status import Status


@pytest.fixture
def client(make_settings, corpus_server):  # type: ignore[no-untyped-def]
    app = create_app(make_settings(allowed_base_urls=[corpus_server], http_retries=0))
    with TestClient(app) as c:
        yield c


def _start(client: TestClient, corpus_server: str, **fields: object) -> tuple[int, str]:
    body = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_server, "limit": 1, "seed_patterns": ["docs.python.org/"]}
    resp = client.post("/rounds", json={**body, **fields}, headers=AUTH)
    return resp.status_code, resp.text


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"crawl_id": "CC-MAIN-NOPE"}, 400, "unknown crawl id"),
        ({"crawl_id": "../../etc/passwd"}, 422, "invalid crawl id"),
        ({"base_url": "file:///etc"}, 400, "not allowed"),
        ({"base_url": "http://169.254.169.254/"}, 400, "not under a configured base URL"),
        ({"base_url": "http://127.0.0.1:1/"}, 400, "not under a configured base URL"),
        ({"crawl_id": None, "warcs": ["file:///etc/passwd"]}, 400, "not allowed"),
        ({"crawl_id": None, "warcs": ["http://10.0.0.1/x.warc.gz"]}, 400, "not allowed"),
        ({"seed_patterns": ["docs python"]}, 422, "contains whitespace"),
        ({"seed_patterns": ["%a%"]}, 422, "too broad"),
        ({"limit": 10**9}, 422, "less than or equal to 100000"),
        ({"limit": 0}, 422, "greater than or equal to 1"),
        ({"threshold": 0.5, "top_k": 10}, 422, "not both"),
        ({"threshold": 1.5}, 422, "less than 1"),
        ({"crawl_id": None}, 422, "give a crawl_id or a list of warcs"),
        ({"model": {"bucket": 10**12}}, 422, "less than or equal to"),
        ({"unknown": 1}, 422, "Extra inputs are not permitted"),
        ({"scan": "html"}, 422, "'auto', 'warc' or 'wet'"),
        ({"scan": "wet"}, 400, "cannot scan WET files: the crawl has no WET files"),
    ],
)
def test_round_requests_are_validated(client, corpus_server, fields, status, reason) -> None:  # type: ignore[no-untyped-def]
    code, text = _start(client, corpus_server, **fields)
    assert code == status and reason in text, text


def test_unreachable_source_is_a_4xx(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(source_base_url="http://127.0.0.1:9/", http_retries=0, http_timeout=2.0))
    with TestClient(app) as c:
        resp = c.post("/rounds", json={"crawl_id": "CC-MAIN-DEV", "seed_patterns": ["docs.python.org/"]}, headers=AUTH)
    assert resp.status_code == 400 and "unreachable" in resp.json()["detail"]


def test_auth_on_every_state_changing_route(client) -> None:  # type: ignore[no-untyped-def]
    label = {"annotator": "a", "labels": [{"pattern": "abcd.com/", "label": "code"}]}
    for path, body in [("/rounds", {"crawl_id": "CC-MAIN-DEV"}), ("/rounds/1/cancel", None), ("/labels", label)]:
        assert client.post(path, json=body).status_code == 401
        assert client.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/stats").status_code == 200  # reads are public by default


def test_private_reads(make_settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(make_settings(public_reads=False))) as c:
        assert c.get("/stats").status_code == 401
        assert c.get("/labels").status_code == 401
        assert c.get("/stats", headers=AUTH).status_code == 200
        assert c.get("/health").status_code == 200  # probes stay public


def test_bad_query_values_are_4xx(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/rounds/0").status_code == 422
    assert client.get(f"/rounds/{10**30}").status_code == 422
    assert client.get("/rounds/7").status_code == 404
    assert client.get("/domains", params={"sort": "nope"}).status_code == 422
    assert client.get("/domains/UPPER..case!").status_code == 422
    assert client.get("/exports/rounds/1/pages", params={"cursor": "x"}).status_code == 422
    assert client.get("/exports/rounds/1/pages").status_code == 404
    assert client.get("/models/../etc").status_code == 404
    assert client.get("/models/nope").status_code == 404
    not_json = client.post("/labels", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert client.put("/rounds").headers["allow"] == "GET, HEAD, POST"


def test_production_refuses_the_default_token() -> None:
    env = {**os.environ, "WEBRECALL_ENV": "production"}
    env.pop("WEBRECALL_API_TOKEN", None)
    proc = subprocess.run([sys.executable, "-c", "import webrecall.api.main"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "WEBRECALL_API_TOKEN must be set" in proc.stderr
    cli = subprocess.run([sys.executable, "-m", "webrecall.cli.main", "api"], cwd=ROOT, env=env, capture_output=True,
                         text=True)
    assert cli.returncode == 2 and "WEBRECALL_API_TOKEN must be set" in cli.stderr


def test_the_status_filter_accepts_every_round_status(make_settings) -> None:  # type: ignore[no-untyped-def]
    """The API's `?status=` is the status machine's own set: a round in any status can be listed by it."""
    settings = make_settings()
    statuses = get_args(Status)
    with dbm.session(settings.db_url) as db:
        for number, name in enumerate(statuses, start=1):
            db.add(dbm.Round(number=number, status=name))
        db.commit()
    with TestClient(create_app(settings)) as c:
        for number, name in enumerate(statuses, start=1):
            resp = c.get("/rounds", params={"status": name})
            assert resp.status_code == 200, (name, resp.text)
            assert [r["id"] for r in resp.json()["data"]] == [number], name
        assert c.get("/rounds", params={"status": "sleeping"}).status_code == 422
