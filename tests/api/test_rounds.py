"""A round through the real server on loopback: start, poll, stats, labels, export, models, cancel."""

from __future__ import annotations

import io
import json
import tarfile

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.api.conftest import AUTH, LiveAPI, wait_for
from tests.core.lifecycle.test_retry import broken_source, fail_on_broken_files  # noqa: F401 - a fixture
from webrecall.core.db import session
from webrecall.core.labelling import accounts
from webrecall.core.settings import Settings
from webrecall.core.text.extract import unfence

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
pytestmark = pytest.mark.slow


HOLDOUT = [  # pages of the first two DEV files; the PostgreSQL one is under a seed pattern
    {"url": "https://www.postgresql.org/docs/15/wal-reliability.html", "label": "code", "kind": "docs",
     "lang": "en"},
    {"url": "https://httpd.apache.org/docs/2.4/ja/mod/mod_dav_lock.html", "label": "code", "kind": "docs",
     "lang": "ja"},
    {"url": "https://observer.com/2023/11/bernard-arnault-lvmh-louvre-chardin/", "label": "non-code", "kind": "web",
     "lang": "en"},
]


@pytest.fixture(scope="module")
def round1(live_api: LiveAPI, corpus_server: str) -> dict:
    body = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_server, "limit": 2, "seed_patterns": SEEDS,
            "holdout_labels": HOLDOUT}  # fmt: skip
    resp = live_api.client.post("/rounds", json=body, headers=AUTH)
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["id"] == 1 and started["progress"]["index"]["warcs_total"] == 2
    return wait_for(live_api.client, 1, {"done", "failed", "cancelled"})


def _shard_rows(live_api: LiveAPI, rnd: dict) -> list[str]:
    """The recalled URLs straight from the round's `rounds/<n>/pages` shards."""
    urls: list[str] = []
    for shard in sorted((live_api.data_dir / "rounds" / "1" / "pages").glob("*.parquet")):
        table = pq.read_table(shard, columns=["url", "score"])
        kept = table.filter(pc.greater_equal(table["score"], rnd["effective_threshold"]))
        urls.extend(kept["url"].to_pylist())
    return urls


def test_round_runs_to_completion_with_progress(round1: dict) -> None:
    assert round1["status"] == "done", round1["error"]
    p = round1["progress"]
    assert p["index"]["warcs_done"] == p["index"]["warcs_total"] == 2
    assert p["recall"]["warcs_done"] == 2 and p["eta_seconds"] is None
    assert round1["html_pages"] == 1000  # 500 HTML responses per DEV WARC
    assert 0 < round1["recalled"] < 1000
    assert round1["errors"] == {} and round1["seed_patterns"] == SEEDS
    assert round1["model"]["metrics"]["seeds"]["positives"] > 0


def test_holdout_rows_never_train_and_are_reported_apart(live_api: LiveAPI, round1: dict) -> None:
    seeds = pq.read_table(live_api.data_dir / "rounds" / "1" / "seeds.parquet", columns=["url"])["url"].to_pylist()
    assert not {r["url"] for r in HOLDOUT} & set(seeds)
    held = round1["holdout"]
    assert held["overall"]["labeled_pages"] == 3 and held["missing"] == 0
    assert held["kind"]["docs"]["labeled_pages"] == 2 and held["lang"]["ja"]["labeled_pages"] == 1
    assert set(held["kind"]) == {"docs", "web"} and set(held["lang"]) == {"en", "ja"}
    resp = live_api.client.post("/rounds", json={"crawl_id": "CC-MAIN-DEV", "holdout_labels": [
        {"url": "https://example.org/", "label": "maybe"}]}, headers=AUTH)  # fmt: skip
    assert resp.status_code == 422 and "holdout_labels" in resp.text


def test_stats_and_domains_match_the_round(live_api: LiveAPI, round1: dict) -> None:
    stats = live_api.client.get("/stats").json()
    r = stats["rounds"][0]
    assert (r["round"], r["pages"], r["recalled"]) == (1, 1000, round1["recalled"])
    assert r["domains"] == round1["domains"] and r["related_domains"] == round1["related_domains"]
    assert stats["overall"]["latest_done_round"] == 1 and stats["overall"]["models"] == 1
    page = live_api.client.get("/domains", params={"round": 1, "limit": 5, "sort": "recalled"}).json()
    assert page["count"] == round1["domains"] and len(page["data"]) == 5
    assert [d["recalled"] for d in page["data"]] == sorted((d["recalled"] for d in page["data"]), reverse=True)
    # figures named for what they are (characters of the extracted text), sortable by the field returned
    assert r["chars"] >= r["recalled_chars"] > 0 and "tokens" not in r and "recalled_tokens" not in r
    every = live_api.client.get("/domains", params={"round": 1, "limit": 1000}).json()["data"]
    assert sum(d["chars"] for d in every) == r["chars"]
    assert sum(d["recalled_chars"] for d in every) == r["recalled_chars"]
    for key, order in [("chars", "desc"), ("recalled_chars", "desc"), ("rule_distance", "asc")]:
        rows = live_api.client.get("/domains", params={"round": 1, "limit": 20, "sort": key, "order": order}).json()
        values = [d[key] for d in rows["data"]]
        assert values == sorted(values, reverse=order == "desc") and len(values) == 20
    assert all(d["rule_distance"] == round(abs(d["fraction"] - 0.1), 6) for d in every)
    for gone in ("tokens", "uncertainty"):
        assert live_api.client.get("/domains", params={"sort": gone}).status_code == 422
    detail = live_api.client.get("/domains/docs.python.org").json()
    assert detail["history"][0]["round"] == 1 and detail["history"][0]["fraction"] >= 0.9
    assert live_api.client.get("/domains/nowhere.example").status_code == 404


def test_export_equals_the_recalled_pages(live_api: LiveAPI, round1: dict) -> None:
    raw = {"dedup": "false", "decontaminate": "false"}  # every shard row; dedup has its own tests (test_export_dedup)
    resp = live_api.client.get("/exports/rounds/1/pages", params=raw)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in resp.text.splitlines()]
    expected = _shard_rows(live_api, round1)
    assert len(rows) == len(expected) == round1["recalled"]
    assert sorted(r["url"] for r in rows) == sorted(expected)
    assert all(r["round"] == 1 and r["model"] == round1["model"]["version"] for r in rows)
    assert all(r["text_extractor"] == "resiliparse" and "\n```\n" not in r["text"] for r in rows)  # lineage; no fences
    fenced = live_api.client.get("/exports/rounds/1/pages", params={**raw, "fences": "true"}).text.splitlines()
    texts = {r["url"]: r["text"] for r in rows}
    assert all(unfence(json.loads(line)["text"]) == texts[json.loads(line)["url"]] for line in fenced)
    assert any("\n```\n" in json.loads(line)["text"] for line in fenced)  # docs pages keep their code marked
    # resume after row k with its cursor: exactly the rest
    k = len(rows) // 2
    rest = live_api.client.get("/exports/rounds/1/pages", params={**raw, "cursor": rows[k]["cursor"]})
    assert [json.loads(line)["url"] for line in rest.text.splitlines()] == [r["url"] for r in rows[k + 1 :]]
    parquet = live_api.client.get("/exports/rounds/1/pages", params={**raw, "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert sorted(table["url"].to_pylist()) == sorted(expected)
    high = live_api.client.get("/exports/rounds/1/pages", params={**raw, "min_score": 0.99}).text.splitlines()
    assert 0 < len(high) <= len(rows)
    deduped = live_api.client.get("/exports/rounds/1/pages").text.splitlines()  # the default: one copy of a page
    assert 0 < len(deduped) <= len(rows)


def test_labels_import_and_export(live_api: LiveAPI, round1: dict) -> None:
    labels = [{"pattern": "docs.djangoproject.com/en/", "label": "code"},
              {"url": "https://example.com/a", "label": "non-code", "round": 1}]  # fmt: skip
    body = {"annotator": "alice", "labels": labels}
    resp = live_api.client.post("/labels", json=body, headers=AUTH)
    assert resp.status_code == 400 and "unknown annotator account 'alice'" in resp.text
    with session(Settings(data_dir=str(live_api.data_dir), database_url="").db_url) as db:
        accounts.create_account(db, "alice", "alice-password")
    resp = live_api.client.post("/labels", json=body, headers=AUTH)
    assert resp.status_code == 201 and resp.json() == {"imported": 2}
    lines = [json.loads(x) for x in live_api.client.get("/labels", params={"annotator": "alice"}).text.splitlines()]
    assert [(x["pattern"], x["label"], x["scope"]) for x in lines] == [
        ("docs.djangoproject.com/en/", "code", "pattern"), ("example.com/a", "non-code", "url")]
    bad = live_api.client.post("/labels", json={"annotator": "bob", "labels": [{"pattern": "x", "label": "code"}]},
                               headers=AUTH)  # fmt: skip
    assert bad.status_code == 422 and "too broad" in bad.text


def test_model_metadata_and_download(live_api: LiveAPI, round1: dict) -> None:
    model = round1["model"]
    assert live_api.client.get(f"/models/{model['id']}").json()["version"] == model["version"]
    assert live_api.client.get(f"/models/{model['version']}").json()["id"] == model["id"]
    resp = live_api.client.get(f"/models/{model['id']}/download")
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as tar:
        members = {m.name: m.size for m in tar.getmembers()}
    model_dir = live_api.data_dir / "models" / model["version"]
    assert members == {f"{model['version']}/{p.name}": p.stat().st_size for p in model_dir.iterdir()}
    meta = live_api.client.get(f"/models/{model['id']}/download", params={"file": "meta.json"})
    assert meta.content == (model_dir / "meta.json").read_bytes()


def test_health_metrics_queue(live_api: LiveAPI, round1: dict) -> None:
    health = live_api.client.get("/health").json()
    assert health["status"] == "ok" and health["broker"]["status"] == "not configured"
    text = live_api.client.get("/metrics").text
    assert 'webrecall_rounds{status="done"} 1.0' in text
    assert 'webrecall_warc_tasks{phase="recall",status="done"} 2.0' in text
    queue = live_api.client.get("/queue", params={"limit": 5}).json()  # discovery queued uncertain domains
    assert queue["count"] == queue["by_status"]["pending"] > 0 and 0 < len(queue["data"]) <= 5
    assert [q["priority"] for q in queue["data"]] == sorted((q["priority"] for q in queue["data"]), reverse=True)
    domain = live_api.client.get(f"/domains/{queue['data'][0]['domain']}").json()
    assert domain["queue"][0]["id"] == queue["data"][0]["id"]
    assert domain["round"] == 1 and domain["proposals"][0]["pattern"] == f"{domain['domain']}/"  # pending, proposed


def test_cancel(live_api: LiveAPI, corpus_server: str, round1: dict) -> None:
    assert live_api.client.post("/rounds/1/cancel", headers=AUTH).status_code == 409  # already done
    assert live_api.client.post("/rounds/99/cancel", headers=AUTH).status_code == 404
    body = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_server, "limit": 1}  # later rounds reuse the seeds
    assert live_api.client.post("/rounds", json=body, headers=AUTH).status_code == 202
    again = live_api.client.post("/rounds", json=body, headers=AUTH)
    assert again.status_code == 409 and "cancel it first" in again.json()["detail"]
    resp = live_api.client.post("/rounds/2/cancel", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    assert wait_for(live_api.client, 2, {"cancelled"})["status"] == "cancelled"
    assert live_api.client.get("/exports/rounds/2/pages").status_code == 409
    listed = live_api.client.get("/rounds").json()
    assert listed["count"] == 2 and [r["id"] for r in listed["data"]] == [2, 1]


def test_state_changing_routes_need_the_token(live_api: LiveAPI) -> None:
    c = live_api.client
    assert c.post("/rounds", json={"crawl_id": "CC-MAIN-DEV"}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert c.post("/rounds", json={"crawl_id": "CC-MAIN-DEV"}, headers=wrong).status_code == 403
    assert c.post("/rounds/1/cancel").status_code == 401
    assert c.post("/labels", json={"annotator": "a", "labels": []}).status_code == 401


def test_retry_route_reads_the_failed_files_again(tmp_path, monkeypatch, broken_source) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from fastapi.testclient import TestClient

    from tests.api.conftest import TOKEN
    from webrecall.api.main import create_app
    from webrecall.core import db as dbm

    for key, value in {"WEBRECALL_DATA_DIR": str(tmp_path / "data"), "WEBRECALL_DATABASE_URL": "",
                       "WEBRECALL_API_TOKEN": TOKEN, "WEBRECALL_PROCESSES": "1"}.items():  # the runner reads them too
        monkeypatch.setenv(key, value)
    settings = Settings()
    dbm.migrate(settings.db_url)
    warcs, fix = broken_source
    rnd = fail_on_broken_files(settings, warcs)
    with TestClient(create_app(settings)) as c:
        assert c.post("/rounds/7/retry", headers=AUTH).status_code == 404
        shown = c.get(f"/rounds/{rnd.number}").json()
        assert [f["warc"] for f in shown["failed_files"]] == warcs and "every WARC file failed" in shown["error"]
        fix()
        resp = c.post(f"/rounds/{rnd.number}/retry", headers=AUTH)
        assert resp.status_code == 202 and resp.json()["status"] == "pending", resp.text
        body = wait_for(c, rnd.number, {"done", "failed", "cancelled"})  # type: ignore[arg-type]
        assert body["status"] == "done" and body["html_pages"] == 2000 and body["failed_files"] == [], body
        again = c.post(f"/rounds/{rnd.number}/retry", headers=AUTH)
        assert again.status_code == 409 and "not failed" in again.json()["detail"]
