"""Operator-facing limits of the real server: bad query values, echoed input, body size, HEAD, offline docs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, LiveAPI, serve_api
from webrecall.api.main import create_app
from webrecall.core.lifecycle.spec import RoundSpec, create_round

CHROMIUM = "/usr/bin/chromium"
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    with serve_api(tmp_path_factory.mktemp("limits"), WEBRECALL_MAX_REQUEST_BYTES=str(LIMIT)) as live:
        yield live


def test_unknown_filter_values_are_422(api: LiveAPI) -> None:
    for path, params in [("/queue", {"kind": "bogus"}), ("/rounds", {"status": "bogus"})]:
        resp = api.client.get(path, params=params)
        assert resp.status_code == 422, (path, resp.text)
        assert "bogus" in resp.text and "uncertain" in resp.text or "pending" in resp.text
    assert api.client.get("/queue", params={"kind": "audit"}).status_code == 200
    assert api.client.get("/rounds", params={"status": "done"}).json() == {"data": [], "count": 0}


def test_a_422_does_not_echo_a_huge_input(api: LiveAPI) -> None:
    pattern = "docs.python.org/" + "a" * 60_000  # under the body limit, over the pattern's 512 characters
    body = {"annotator": "alice", "labels": [{"pattern": pattern, "label": "code"}]}
    resp = api.client.post("/labels", json=body, headers=AUTH)
    assert resp.status_code == 422 and "at most 512 characters" in resp.text
    assert len(resp.content) < 1_000 and "cut" in resp.json()["detail"][0]["input"]
    many = {"annotator": "alice", "labels": [{"pattern": "docs.python.org/", "label": "perhaps"}] * 500}
    resp = api.client.post("/labels", json=many, headers=AUTH)
    assert resp.status_code == 422 and len(resp.json()["detail"]) == 20 and resp.json()["errors_total"] == 500


def test_a_body_over_the_limit_is_413(api: LiveAPI) -> None:
    big = json.dumps({"annotator": "alice", "labels": [{"pattern": "docs.python.org/" + "a" * 2 * LIMIT,
                                                        "label": "code"}]}).encode()  # fmt: skip
    resp = api.client.post("/labels", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 413 and "WEBRECALL_MAX_REQUEST_BYTES" in resp.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    resp = api.client.post("/labels", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 413
    small = {"labels": [{"pattern": "docs.python.org/3/", "label": "code"}]}  # an operator label
    ok = api.client.post("/labels", content=b"".join([json.dumps(small).encode()]),
                         headers={**AUTH, "Content-Type": "application/json"})  # fmt: skip
    assert ok.status_code == 201


def test_hosts_are_case_insensitive(api: LiveAPI) -> None:
    label = {"labels": [{"pattern": "docs.python.org/3/", "label": "code"}]}
    assert api.client.post("/labels", json=label, headers=AUTH).status_code == 201
    upper = api.client.get("/domains/Docs.Python.org")
    assert upper.status_code == 200 and upper.json()["domain"] == "docs.python.org"
    assert upper.json() == api.client.get("/domains/docs.python.org").json()


def test_head_matches_get(api: LiveAPI) -> None:
    get, head = api.client.get("/labels"), api.client.head("/labels")
    assert head.status_code == get.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/x-ndjson"
    assert api.client.head("/stats").headers["content-type"] == "application/json"


def test_cancel_marks_unstarted_tasks_and_metrics_stop_counting_them(make_settings, corpus_server: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    rnd = create_round(settings, RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=3,
                                           seed_patterns=["docs.python.org/"]))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        before = _samples(c.get("/metrics").text)
        assert before[("webrecall_warc_tasks", (("phase", "recall"), ("status", "pending")))] == 3
        assert c.post(f"/rounds/{rnd.number}/cancel", headers=AUTH).status_code == 200
        after = c.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    tasks = {dict(labels)["phase"] + "/" + dict(labels)["status"]: value
             for (name, labels), value in _samples(after.text).items() if name == "webrecall_warc_tasks"}  # fmt: skip
    assert tasks == {"index/cancelled": 3, "recall/cancelled": 3}
    assert _samples(after.text)[("webrecall_rounds", (("status", "cancelled"),))] == 1


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/browser.sh)")
def test_docs_and_redoc_render_offline(api: LiveAPI) -> None:
    from playwright.sync_api import sync_playwright

    elsewhere: list[tuple[str, str]] = []

    def only_loopback(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(api.url):
            route.continue_()
        else:  # an air-gapped cluster: nothing but the service itself answers
            elsewhere.append((route.request.resource_type, route.request.url))
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.route("**/*", only_loopback)
            page.goto(f"{api.url}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "webrecall" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector("text=/rounds", timeout=30_000)
            page.goto(f"{api.url}/redoc")
            page.wait_for_selector(".api-content h1", timeout=30_000)
            assert "webrecall" in page.inner_text(".api-content h1")
        finally:
            browser.close()
    # no script, style sheet, font or image from elsewhere (ReDoc's "powered by" logo included)
    assert elsewhere == [], elsewhere
