"""WET-first rounds over loopback HTTP on CC-MAIN-DEV laid out as Common Crawl publishes it (WARC and WET files, the
columnar URL index): every page scored on its WET text, only the candidates' records read, each by byte range and
once; a second round reads nothing it read before."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from tests.conftest import CORPUS, WET_FILES
from webrecall.cli.demo import read_truth, scripted_annotation
from webrecall.core import db as dbm
from webrecall.core import params
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.queries import round_by_number
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
RANGE = re.compile(r"bytes=(\d+)-(\d+)")
pytestmark = pytest.mark.slow


def _reads(hits, since: int = 0) -> tuple[list[tuple[str, int, int]], list[str]]:
    """(WARC file, first byte, last byte) of every range request to a WARC file, and every whole-file GET."""
    ranges, whole = [], []
    for h in hits[since:]:
        if h.method != "GET" or not h.path.endswith((".warc.gz", ".warc.wet.gz")):
            continue
        m = RANGE.fullmatch(h.range or "")
        if m and h.path.endswith(".warc.gz") and h.status == 206 and h.range != "bytes=0-0":
            ranges.append((h.path, int(m[1]), int(m[2])))
        elif not m:
            whole.append(h.path)
    return ranges, whole


@pytest.fixture(scope="module")
def wet_loop(tmp_path_factory, wet_httpd, dev_eval_labels):
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("wetloop")), database_url="")
    dbm.migrate(settings.db_url)
    spec = {"crawl_id": "CC-MAIN-DEV", "base_url": wet_httpd.url, "limit": WET_FILES, "seed_patterns": SEEDS,
            "eval_labels": dev_eval_labels}  # fmt: skip
    start = len(wet_httpd.hits)
    r1 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    middle = len(wet_httpd.hits)
    annotation = scripted_annotation(settings, r1.id, read_truth(LABELS))
    r2 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    return settings, round_by_number(settings, 1), r2, wet_httpd.hits[start:middle], wet_httpd.hits[middle:], annotation


def test_a_crawl_with_wet_files_is_scanned_wet_first(wet_loop):
    settings, r1, r2, hits1, _, _ = wet_loop
    p1 = params.of(r1)
    assert (r1.status, r2.status) == ("done", "done")
    assert p1.scan == "wet" and p1.wet_prefilter and 0 <= p1.wet_floor < r1.threshold
    cal = r1.totals["model"]["prefilter"]
    assert cal["floor"] == pytest.approx(p1.wet_floor, abs=1e-6) and cal["recall"] >= p1.wet_floor_recall
    assert cal["kept"] > 20 and cal["split"] == "host"
    ranges, whole = _reads(hits1)
    assert all(path.endswith(".warc.wet.gz") for path in whole)  # no WARC file is read whole
    assert len(whole) == WET_FILES
    e1 = r1.totals["eval"]
    print(f"round 1 (WET-first): {r1.totals['recalled']} kept, P {e1['precision']} R {e1['recall']}, floor "
          f"{p1.wet_floor:.4f}, calibration {cal}")
    assert e1["precision"] >= 0.95 and r1.totals["recalled"] > 100


def test_each_record_is_fetched_by_range_once(wet_loop):
    settings, r1, _, hits1, _, _ = wet_loop
    ranges, _ = _reads(hits1)
    assert len(ranges) == len(set(ranges))  # no range is asked twice
    store = Store(settings.data_dir)
    records = []
    for rel in store.list(f"rounds/{r1.number}/index"):
        table = store.read_table(rel, columns=["warc", "offset", "length"]).to_pylist()
        records += [(r["warc"].split("/", 3)[-1], r["offset"], r["length"]) for r in table if r["offset"] >= 0]
    assert records  # every candidate's record was read by a range request
    for warc, offset, length in records:
        assert any(p.lstrip("/") == warc and a <= offset and offset + length - 1 <= b for p, a, b in ranges)
    with dbm.session(settings.db_url) as db:
        tasks = db.exec(select(dbm.WarcTask)).all()  # both rounds'
    fetched = sum(int(t.stats.get("fetched", 0)) for t in tasks)
    parts = [rel for rel in store.list("cache") if ".fetched/" in rel]
    rows = [r for rel in parts for r in store.read_table(rel, columns=["url", "length"]).to_pylist()]
    assert fetched == len({r["url"] for r in rows}) == len(rows) > 0  # each page fetched once, sample or candidate
    rows = [r for rel in parts if "/r1-" in rel for r in store.read_table(rel, columns=["length"]).to_pylist()]
    read = sum(b - a + 1 for _, a, b in ranges)
    print(f"round 1: {fetched} pages fetched, {read:,} bytes of WARC files read by range")
    assert read <= 1.15 * sum(r["length"] for r in rows)  # the bytes between the records read stay under 15%


def test_round_two_reads_nothing_again(wet_loop):
    settings, r1, r2, hits1, hits2, annotation = wet_loop
    assert annotation["labels"] > 0
    ranges1, _ = _reads(hits1)
    ranges2, whole2 = _reads(hits2)
    assert whole2 == []  # the WET files are not read again: the WET cache has every page's text
    assert not set(ranges1) & set(ranges2)
    store = Store(settings.data_dir)
    parts = [rel for rel in store.list("cache") if ".fetched/" in rel]
    first = [r for rel in parts if "/r1-" in rel for r in store.read_table(rel, columns=["warc", "offset",
                                                                                         "length"]).to_pylist()]
    for path, a, b in ranges2:  # no record fetched in round 1 is fetched again
        assert not [r for r in first if r["warc"].endswith(path) and a <= r["offset"] and r["offset"] < b]
    new = [r for rel in parts if "/r2-" in rel for r in store.read_table(rel, columns=["length"]).to_pylist()]
    own = {p for p, _, _ in ranges1}  # the round's WARC files (the others are the labelled patterns' expansion)
    assert sum(b - a + 1 for p, a, b in ranges2 if p in own) <= 1.15 * sum(r["length"] for r in new)
    e1, e2 = r1.totals["eval"], r2.totals["eval"]
    print(f"round 2: {r2.totals['recalled']} kept, P {e2['precision']} R {e2['recall']}; {len(new)} pages fetched "
          f"by {len(ranges2)} ranges (round 1 fetched {len(first)})")
    assert e2["recall"] >= e1["recall"] and e2["precision"] >= 0.95
