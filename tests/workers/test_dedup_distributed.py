"""The dedup stage on real Celery workers (recall tasks write signatures, a group of partition tasks groups the
LSH bands, finalize merges) removes exactly what the in-process run removes, on the same WARC files."""

from __future__ import annotations

import io
import json

import pytest

from tests.workers.test_distributed import SEEDS, cluster, wait_round  # noqa: F401 - `cluster` is a fixture
from webrecall.core import db as dbm
from webrecall.core.lifecycle.export import export
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.settings import FastTextParams, Settings
from webrecall.core.storage.layout import removed_path
from webrecall.core.storage.store import Store

pytestmark = [pytest.mark.services, pytest.mark.slow]
WARCS = ["crawl-data/CC-MAIN-DEV/segments/1716000000000.0/warc/CC-MAIN-DEV-00003.warc.gz",
         "crawl-data/CC-MAIN-BENCH/segments/1716000000000.0/warc/CC-MAIN-BENCH-00000.warc.gz"]  # fmt: skip


def outcome(settings: Settings, rnd: dbm.Round) -> tuple[list[tuple], list[str]]:
    removed = Store(settings.data_dir).read_table(removed_path(rnd.number)).to_pylist()
    buf = io.BytesIO()
    export(settings, rnd.number, buf)
    kept = sorted(json.loads(line)["url"] for line in buf.getvalue().splitlines())
    return sorted((r["id"], r["reason"], r["dedup_of"]) for r in removed), kept


def test_distributed_dedup_equals_the_in_process_run(tmp_path, cluster, corpus_server):  # noqa: F811
    from webrecall.workers.celery_app import make_app
    from webrecall.workers.tasks import enqueue

    warcs = [corpus_server.rstrip("/") + "/" + w for w in WARCS]
    local = Settings(data_dir=str(tmp_path / "inproc"), database_url="", ft=FastTextParams(threads=1))
    dbm.migrate(local.db_url)
    base = run_round(local, create_round(local, RoundSpec(warcs=warcs, seed_patterns=SEEDS)).id, processes=2)
    assert base.status == "done"

    settings, _env, start_workers = cluster
    start_workers(2)
    rnd = create_round(settings, RoundSpec(warcs=warcs, seed_patterns=SEEDS))
    enqueue(make_app(settings), settings, rnd.id)
    done = wait_round(settings, rnd.id, timeout=600)
    assert done.status == "done", done.error
    assert done.totals["dedup"] == base.totals["dedup"]
    assert done.totals["dedup"]["round"]["exact_url"] >= 2  # BENCH's copies of the DEV WARC's recalled pages
    assert outcome(settings, done) == outcome(local, base)
    store = Store(settings.data_dir)
    assert len(store.list(f"rounds/{done.number}/dedup", suffix=".parquet")) == settings.dedup.partitions + 1
