"""Expansion through the crawl's URL index on CC-MAIN-DEV over loopback: round 1 reads 2 of the 8 WARC files,
labels name 3 documentation patterns (and one non-code pattern), round 2 fetches every page of those patterns
from the other 6 files by byte range and trains on them."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from tests.conftest import CORPUS
from tests.core.conftest import export_rows
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.crawl.ccindex import build_index
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.expansion import lookup_round, summary
from webrecall.core.lifecycle.finalize import round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.warc_task import process_warc_task
from webrecall.core.model.seeds import is_heldout
from webrecall.core.pipeline.dedup import canonical_url, removed_path
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import expand_path, expand_plan_path, seeds_path
from webrecall.core.storage.layout import expand_path as shard_path
from webrecall.core.storage.layout import expand_sigs_path as index_sigs_path
from webrecall.core.storage.store import Store
from webrecall.core.text.extract import FENCE
from webrecall.core.urls.patterns import parse
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
        label_store.import_labels(db, [*({"pattern": p, "label": "code"} for p in CODE),
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
    exp = summary(RoundContext.load(settings, r2.id))
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
        shards = [store.read_table(expand_path(r2.number, t.warc_url)) for t in tasks]
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
    before = summary(RoundContext.load(settings, r2.id))
    plan = store.read_table(expand_plan_path(r2.number)).num_rows
    again = lookup_round(RoundContext.load(settings, r2.id))  # a done lookup is a no-op: the recorded result
    assert again["index_bytes"] == before["index_bytes"] and again["patterns"].keys() == before["patterns"].keys()
    with dbm.session(settings.db_url) as db:
        rows = db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == r2.id,
                                                  dbm.WarcTask.phase.in_(["lookup", "expand"]))).all()  # fmt: skip
    assert len(rows) == 7 and store.read_table(expand_plan_path(r2.number)).num_rows == plan
    row = next(r for r in rows if r.phase == "expand")
    n = pq.read_metadata(store.path(expand_path(r2.number, row.warc_url))).num_rows
    assert process_warc_task(settings, row.id).status == "done"  # a redelivered fetch task reruns...
    assert pq.read_metadata(store.path(expand_path(r2.number, row.warc_url))).num_rows == n  # ...and replaces
    assert summary(RoundContext.load(settings, r2.id))["fetched"] == before["fetched"]


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
        assert body["fetched"] == summary(RoundContext.load(settings, r2.id))["fetched"]
        assert set(body["patterns"]) == {*CODE, NON_CODE}
        assert client.get("/rounds/1/expansion").json() == {}
        assert client.get("/rounds/9/expansion").status_code == 404


def test_expanded_positives_join_the_export_with_lineage_and_dedup(expanded):
    """The code patterns' pages fetched through the index are in round 2's corpus: exported after the recalled
    pages with `source: index` and the pattern, no score; the dedup stage saw their signatures, so each page is
    there once; the non-code pattern's pages (hard negatives) are not."""
    settings, _, _, _, r2 = expanded
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        locations = [t.warc_url for t in db.exec(select(dbm.WarcTask).where(
            dbm.WarcTask.round_id == r2.id, dbm.WarcTask.phase == "expand", dbm.WarcTask.status == "done"))]
    fetched = [r for loc in locations for r in store.read_table(shard_path(r2.number, loc)).to_pylist()]
    code = {(r["warc"], r["offset"]): r for r in fetched if r["label"] == "code" and r["text"]}
    empty = sum(r["label"] == "code" and not r["text"] for r in fetched)  # nothing extracted: not in the corpus
    assert len(code) > 400 and len(code) + empty < len(fetched) and empty < len(code) / 100
    assert all(store.exists(index_sigs_path(r2.number, loc)) for loc in locations)
    sigs = sum(pq.read_metadata(store.path(index_sigs_path(r2.number, loc))).num_rows for loc in locations)
    assert sigs == len(code)  # one signature per expanded positive, none for the hard negatives

    everything = export_rows(settings, r2.number, dedup=False, decontaminate=False)
    index_rows = [r for r in everything if r["source"] == "index"]
    assert {(r["warc"], r["offset"]) for r in index_rows} == set(code)  # every positive, once
    assert {r["source"] for r in everything} == {"recall", "index"}
    assert everything[-len(index_rows):] == index_rows  # after the recalled pages (the cursor's order)
    for row in index_rows:
        page = code[(row["warc"], row["offset"])]
        assert row["index_pattern"] == page["pattern"] in CODE and parse(page["pattern"]).matches(row["url"])
        assert row["label"] == "code" and row["score"] is None and row["model"] is None and row["round"] == 2
        assert row["text"] and FENCE not in row["text"].splitlines() and row["text_extractor"] == "resiliparse"
    assert all(r["index_pattern"] is None and r["score"] is not None for r in everything if r["source"] == "recall")

    dedup = r2.totals["dedup"]["round"]
    recalled = sum(r["source"] == "recall" for r in everything)
    assert dedup["pages"] == recalled + len(code)  # the dedup stage covered the index pages too
    exported = export_rows(settings, r2.number)
    urls = [canonical_url(r["url"]) for r in exported]
    assert len(urls) == len(set(urls))  # each page once, recalled or fetched through the index
    removed = {(r["warc"], r["offset"]) for r in store.read_table(removed_path(r2.number)).to_pylist()
               if r["round"] == 2}  # fmt: skip
    dirty = {(r["warc"], r["offset"]) for r in everything if r["contaminated"]}
    assert len([r for r in exported if r["source"] == "index"]) == len(set(code) - removed - dirty)
    assert len(exported) == len(everything) - len({(r["warc"], r["offset"]) for r in everything} & (removed | dirty))


def test_expanded_pages_are_redacted_like_the_recalled_ones(expanded):
    """The export's redaction covers the pages fetched through the index too (the httpd, SQLite and Django docs
    carry addresses), and the round's totals, counted by the recall and expand tasks, are what an export that
    leaves nothing out redacts."""
    from webrecall.core.text.redact import redact

    settings, _, _, _, r2 = expanded
    raw = export_rows(settings, r2.number, dedup=False, decontaminate=False, redact=False)
    rows = export_rows(settings, r2.number, dedup=False, decontaminate=False)
    assert [(r["warc"], r["offset"]) for r in raw] == [(r["warc"], r["offset"]) for r in rows]
    for before, after in zip(raw, rows, strict=True):
        assert before["redactions"] is None and (after["text"], after["redactions"]) == redact(before["text"])
    index = [r for r in rows if r["source"] == "index"]
    assert sum(bool(r["redactions"]) for r in index) >= 5
    kinds: dict[str, int] = {}
    for r in rows:
        for kind, n in r["redactions"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    assert r2.totals["redactions"] == {"pages": sum(bool(r["redactions"]) for r in rows),
                                       "total": sum(kinds.values()), "kinds": dict(sorted(kinds.items()))}  # fmt: skip
