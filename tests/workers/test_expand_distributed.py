"""Expansion on real Celery workers (Redis + PostgreSQL): the lookup task replaces itself with one range-fetch
task per WARC file, train waits for them, and the result equals what the labels' patterns hold in the crawl."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from tests.conftest import CORPUS
from tests.services import ROOT
from tests.workers.test_distributed import cluster, wait_round  # noqa: F401 - the shared fixture
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.crawl.ccindex import build_index
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.expansion import summary
from webrecall.core.lifecycle.export import export
from webrecall.core.pipeline.dedup import canonical_url
from webrecall.core.storage.layout import expand_sigs_path as index_sigs_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import parse
from webrecall.mirror.server import serve

pytestmark = [pytest.mark.services, pytest.mark.slow]
CODE = ["docs.djangoproject.com/", "www.sqlite.org/", "httpd.apache.org/docs/"]
LABELS = [json.loads(line) for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8")]


def test_distributed_expansion_fetches_every_labelled_page(cluster, tmp_path):  # noqa: F811
    settings, env, start_workers = cluster
    build_index(CORPUS, tmp_path / "index", crawls=["CC-MAIN-DEV"], row_group_rows=200, languages=False)
    server, url = serve(str(CORPUS), index_dir=str(tmp_path / "index"))
    start_workers(2)
    cli_env = {**os.environ, "PYTHONPATH": str(ROOT), **{f"WEBRECALL_{k.upper()}": v for k, v in env.items()}}

    def start() -> int:
        out = subprocess.run(
            [sys.executable, "-m", "webrecall.cli.main", "round", "start", "--distributed", "--json",
         "--crawl", "CC-MAIN-DEV",
             "--base-url", url, "--limit", "2", "--seed-pattern", "docs.python.org/"],
            env=cli_env, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        with dbm.session(settings.db_url) as db:
            return int(db.exec(select(dbm.Round.id).where(dbm.Round.number == json.loads(out.stdout)["id"])).one())

    try:
        r1 = wait_round(settings, start(), timeout=600)
        assert r1.status == "done", r1.error
        with dbm.session(settings.db_url) as db:
            label_store.import_labels(db, [{"pattern": p, "label": "code"} for p in CODE], annotator="test")
        round_id = start()
        r2 = wait_round(settings, round_id, timeout=900)
    finally:
        server.shutdown()
        server.server_close()
    assert r2.status == "done", r2.error
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == round_id)).all()
    assert Counter((t.phase, t.status) for t in tasks) == {("index", "done"): 2, ("lookup", "done"): 1,
                                                         ("expand", "done"): 6, ("recall", "done"): 2}  # fmt: skip
    assert all(t.attempts == 1 for t in tasks)  # nothing ran twice
    exp = summary(RoundContext.load(settings, round_id))
    for pattern in CODE:
        total = sum(parse(pattern).matches(r["url"]) for r in LABELS)
        p = exp["patterns"][pattern]
        assert p["in_sample"] + p["fetched"] == total and p["failed"] == 0, pattern
    assert r2.totals["model"]["seeds"]["index"] > 400
    # the fetch tasks wrote their positives' dedup signatures; the export holds those pages once, as source=index
    store = Store(settings.data_dir)
    sigs = sum(pq.read_metadata(store.path(index_sigs_path(r2.number, t.warc_url))).num_rows
               for t in tasks if t.phase == "expand")  # fmt: skip
    buf = io.BytesIO()
    export(settings, r2.number, buf)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    index_rows = [r for r in rows if r["source"] == "index"]
    assert 400 < len(index_rows) <= sigs and len({canonical_url(r["url"]) for r in rows}) == len(rows)
    assert all(r["index_pattern"] in CODE and r["score"] is None for r in index_rows)
    assert r2.totals["dedup"]["round"]["pages"] == r2.totals["recalled"] + sigs  # the dedup stage saw them all
