"""Expansion through the crawl's URL index on CC-MAIN-DEV over loopback: round 1 reads 2 of the 8 WARC files,
labels name 3 documentation patterns (and one non-code pattern), round 2 fetches every page of those patterns
from the other 6 files by byte range and trains on them."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from tests.conftest import CORPUS
from webrecall.core import db as dbm
from webrecall.core.crawl.ccindex import build_index
from webrecall.core.labelling import label_store as labels_mod
from webrecall.core.labelling.patterns import parse
from webrecall.core.lifecycle.finalize import round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.warc_task import process_warc_task
from webrecall.core.model.seeds import is_heldout, seeds_path
from webrecall.core.pipeline.expand import lookup_round, plan_path, shard_path, summary
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store
from webrecall.mirror.server import serve

pytestmark = pytest.mark.slow
LABELS = [json.loads(line) for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").open(encoding="utf-8")]
CODE = ["docs.djangoproject.com/", "www.sqlite.org/", "httpd.apache.org/docs/"]
NON_CODE = "www.nytimes.com/"
SAMPLED = ("CC-MAIN-DEV-00000", "CC-MAIN-DEV-00001")


@pytest.fixture(scope="module")
def expanded(tmp_path_factory):
    index = tmp_path_factory.mktemp("ccindex")
    build_index(CORPUS, index, crawls=["CC-MAIN-DEV"], row_group_rows=200, languages=False)
    server, url = serve(str(CORPUS), index_dir=str(index))
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("expand")), database_url="", text_extractor="resiliparse")
    dbm.migrate(settings.db_url)
    spec = {"crawl_id": "CC-MAIN-DEV", "base_url": url, "limit": 2, "seed_patterns": ["docs.python.org/"]}
    r1 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    with dbm.session(settings.db_url) as db:
        labels_mod.import_labels(db, [*({"pattern": p, "label": "code"} for p in CODE),
                                      {"pattern": NON_CODE, "label": "non-code"}], annotator="test")  # fmt: skip
    server.bytes_served.clear()
    r2 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    yield settings, server, url, r1, r2
    server.shutdown()
    server.server_close()


def test_round_one_has_no_expansion_rows(expanded):
    settings, _, _, r1, _ = expanded
    with dbm.session(settings.db_url) as db:
        phases = {t.phase for t in db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == r1.id))}
    assert phases == {"index", "recall"} and "expansion" not in r1.totals


def test_every_page_of_the_labelled_patterns_across_the_crawl_is_fetched(expanded):
    settings, server, _, _, r2 = expanded
    exp = summary(settings, r2.id)
    assert r2.totals["expansion"]["fetched"] == exp["fetched"]
    for pattern in [*CODE, NON_CODE]:
        rows = [r for r in LABELS if parse(pattern).matches(r["url"])]
        p = exp["patterns"][pattern]
        in_sample = sum(any(s in r["warc"] for s in SAMPLED) for r in rows)
        assert p["captures"] == len(rows) and p["in_sample"] == in_sample, pattern
        assert p["planned"] == p["fetched"] == len(rows) - in_sample and p["failed"] == 0, pattern
    assert exp["warcs_done"] == 6 and exp["warcs_failed"] == 0 and exp["row_groups_read"] < exp["row_groups"]
    # the WARC bytes read stay within 1.15x the records' bytes, and the server agrees with the client's count
    assert exp["record_bytes"] <= exp["warc_bytes"] <= 1.15 * exp["record_bytes"]
    others = sum(n for path, n in server.bytes_served.items() if path.endswith(".warc.gz")
                 and not any(s in path for s in SAMPLED))  # fmt: skip
    assert others == exp["warc_bytes"]  # only the expansion reads the 6 files outside the round


def test_expanded_pages_train_the_round_as_positives_and_hard_negatives(expanded):
    settings, _, _, _, r2 = expanded
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == r2.id, dbm.WarcTask.phase == "expand"))
        shards = [store.read_table(shard_path(r2.number, t.warc_url)) for t in tasks]
    pages = [row for t in shards for row in t.to_pylist()]
    assert {p["source"] for p in pages} == {"index"}
    assert sum(not p["text"].strip() for p in pages) < len(pages) / 100  # a page without main text cannot train
    seeds = store.read_table(seeds_path(r2.number)).to_pylist()
    by_url = {s["url"]: s for s in seeds}
    for page in pages:
        if is_heldout(page["url"], settings.heldout_fraction) or not page["text"].strip():
            assert page["url"] not in by_url
        elif page["label"] == "code":
            assert by_url[page["url"]]["source"] == "index" and by_url[page["url"]]["label"]
        else:
            assert by_url[page["url"]]["source"] == "hard_negative" and not by_url[page["url"]]["label"]
    assert r2.totals["model"]["seeds"]["index"] == sum(s["source"] == "index" for s in seeds) > 400


def test_lookup_and_fetch_reruns_replace_and_never_duplicate(expanded):
    settings, _, _, _, r2 = expanded
    store = Store(settings.data_dir)
    before = summary(settings, r2.id)
    plan = store.read_table(plan_path(r2.number)).num_rows
    again = lookup_round(settings, r2.id)  # a done lookup is a no-op: the recorded result, nothing read
    assert again["index_bytes"] == before["index_bytes"] and again["patterns"].keys() == before["patterns"].keys()
    with dbm.session(settings.db_url) as db:
        rows = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == r2.id,
                                                  dbm.WarcTask.phase.in_(["lookup", "expand"]))).all()  # fmt: skip
    assert len(rows) == 7 and store.read_table(plan_path(r2.number)).num_rows == plan
    row = next(r for r in rows if r.phase == "expand")
    n = pq.read_metadata(store.path(shard_path(r2.number, row.warc_url))).num_rows
    assert process_warc_task(settings, row.id)["status"] == "done"  # a redelivered fetch task reruns...
    assert pq.read_metadata(store.path(shard_path(r2.number, row.warc_url))).num_rows == n  # ...and replaces
    assert summary(settings, r2.id)["fetched"] == before["fetched"]


def test_operators_see_the_expansion_in_the_round_report(expanded):
    settings, _, _, _, r2 = expanded
    report = round_report(settings, r2.number)
    assert set(report["expansion"]["patterns"]) == {*CODE, NON_CODE}
    assert report["expansion"]["index_bytes"] > 0 and report["expansion"]["backend"] == "columnar"


def test_the_api_serves_the_expansion_of_a_round(expanded):
    from fastapi.testclient import TestClient

    from webrecall.api.main import create_app

    settings, _, _, _, r2 = expanded
    with TestClient(create_app(settings)) as client:
        body = client.get(f"/rounds/{r2.number}/expansion").json()
        assert body["fetched"] == summary(settings, r2.id)["fetched"] and set(body["patterns"]) == {*CODE, NON_CODE}
        assert client.get("/rounds/1/expansion").json() == {}
        assert client.get("/rounds/9/expansion").status_code == 404
