"""The API on the scaled-out stack: rounds run on 2 real Celery workers over Redis, metadata in PostgreSQL."""

from __future__ import annotations

import itertools
import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import redis

from tests.api.conftest import AUTH, serve_api, wait_for
from webrecall.core import db as dbm

pytestmark = [pytest.mark.services, pytest.mark.slow]
SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
_db = itertools.count(8)


def test_round_via_api_on_celery_workers_and_postgres(tmp_path, corpus_server, redis_url, postgres_db,
                                                       celery_workers):  # fmt: skip
    base, _, _ = redis_url.rpartition("/")
    broker = f"{base}/{next(_db)}"
    redis.Redis.from_url(broker).flushdb()
    data = tmp_path / "data"
    data.mkdir()
    env = {"database_url": postgres_db, "data_dir": str(data), "broker_url": broker}
    celery_workers(2, **env)
    dbm.migrate(postgres_db)  # `webrecall init`, as the compose `migrate` service runs it before the API starts
    with serve_api(data, WEBRECALL_EXECUTION="celery", WEBRECALL_DATABASE_URL=postgres_db,
                   WEBRECALL_BROKER_URL=broker, WEBRECALL_ALLOWED_BASE_URLS=corpus_server) as api:  # fmt: skip
        health = api.client.get("/health").json()
        assert health["status"] == "ok" and health["broker"]["status"] == "ok", health
        body = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_server, "limit": 2, "seed_patterns": SEEDS}
        resp = api.client.post("/rounds", json=body, headers=AUTH)
        assert resp.status_code == 202, resp.text
        rnd = wait_for(api.client, resp.json()["id"], {"done", "failed", "cancelled"})
        assert rnd["status"] == "done", rnd
        assert rnd["html_pages"] == 1000 and rnd["recalled"] > 0
        raw = {"dedup": "false", "decontaminate": "false"}  # every shard row (dedup has its own tests)
        body = api.client.get(f"/exports/rounds/{rnd['id']}/pages", params=raw).text
        rows = [json.loads(line) for line in body.splitlines()]
        shards = sorted((data / "rounds" / str(rnd["id"]) / "pages").glob("*.parquet"))
        expected = []
        for shard in shards:
            table = pq.read_table(shard, columns=["url", "score"])
            expected += table.filter(pc.greater_equal(table["score"], rnd["effective_threshold"]))["url"].to_pylist()
        assert len(shards) == 2
        assert sorted(r["url"] for r in rows) == sorted(expected) and len(rows) == rnd["recalled"]
        stats = api.client.get("/stats").json()
        assert stats["rounds"][0]["pages"] == 1000 and stats["rounds"][0]["recalled"] == rnd["recalled"]
