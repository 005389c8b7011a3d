"""Two rounds of the loop on CC-MAIN-DEV over loopback HTTP: round 1, a scripted annotator, round 2.

The recalled text uses the fast extractor here (settings.text_extractor="resiliparse"): trafilatura on every
kept page would triple the test's time and is not what is under test.
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from tests.conftest import CACHE_ID, CORPUS
from webrecall.cli.demo import read_truth, scripted_annotation
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.labelling.discovery import PAGE_CODE
from webrecall.core.labelling.page_items import page_labels
from webrecall.core.labelling.strategies import STRATEGIES
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.finalize import round_report
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.progress import round_view
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.training import from_previous_round
from webrecall.core.model.seeds import build_seeds, is_heldout
from webrecall.core.queries import round_by_number
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import cache_path, index_path, seeds_path
from webrecall.core.storage.store import Store
from webrecall.core.text.features import with_signals
from webrecall.core.urls.domains import split_url
from webrecall.core.urls.patterns import PatternSet, parse, url_key

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
PRECISION_FLOOR = 0.01
"""Round 2 may lose at most this much precision (about the labels' own noise, ~1%). Measured: 0.997 -> 0.999
here (3 files, resiliparse text); 0.991 -> 0.996 (3 files) and 0.989 -> 0.997 (8 files) in the demo."""
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loop(tmp_path_factory, corpus_httpd, dev_eval_labels):
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("loop")), database_url="", text_extractor="resiliparse")
    dbm.migrate(settings.db_url)
    spec = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_httpd.url, "limit": 3, "seed_patterns": SEEDS,
            "eval_labels": dev_eval_labels}  # fmt: skip
    r1 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    annotation = scripted_annotation(settings, r1.id, read_truth(LABELS))
    r2 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    return settings, round_by_number(settings, 1), annotation, r2


def test_round_two_recalls_more_code_without_losing_precision(loop):
    _, r1, annotation, r2 = loop
    e1, e2 = r1.totals["eval"], r2.totals["eval"]
    print(f"round 1: P {e1['precision']} R {e1['recall']}; round 2: P {e2['precision']} R {e2['recall']}")
    assert r1.status == r2.status == "done"
    assert annotation["done"] >= 5 and annotation["labels"] >= annotation["done"]
    assert e2["recall"] >= e1["recall"]
    assert e2["recall"] >= 0.8  # round 1 found ~35% with two seed sites; labels on its queue close the gap
    assert e2["precision"] >= e1["precision"] - PRECISION_FLOOR


def test_round_two_reports_growth_domains_queue_and_labels(loop):
    settings, r1, annotation, r2 = loop
    g = r2.totals["growth"]
    assert g["previous_round"] == 1 and g["new_pages"] > 0 and g["new_chars"] > 0 and g["growth"] > 0.5
    assert 0.9 <= g["overlap"] <= 1.0 and g["stop"] is False
    assert g["labels_received"] == annotation["labels"]
    d = r2.totals["discovery"]
    assert d["previous_round"] == 1 and d["new"] >= 2 and d["queue"]["added"] > 0
    seeds = r2.totals["model"]["seeds"]
    assert seeds["previous"] > 0 and seeds["positives"] > r1.totals["model"]["seeds"]["positives"]
    assert Store(settings.data_dir).exists(seeds_path(1))
    report = round_report(settings, 2)
    assert report["queue"]["items"] == d["queue"]["added"] and report["model"]["heldout"]["f1"] > 0.8
    assert report["growth"] == g and report["stop"] is False


def test_labeled_domains_are_not_queued_again(loop):
    settings, r1, _, r2 = loop
    with dbm.session(settings.db_url) as db:
        q1 = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == r1.id)).all()
        q2 = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == r2.id)).all()
        code_pages = {d for d, urls in page_labels(db).items() if any(urls.values())}
    done = {q.domain for q in q1 if q.status == "done"}
    # neither as domain items nor as page items, but a site whose page items were labelled code may come back
    again = [(q.domain, q.kind, q.reason) for q in q2 if q.domain in done - code_pages]
    assert done and not again, again
    assert all(q.details["code_pages"] >= 1 for q in q2 if q.reason == PAGE_CODE)
    assert {q.kind for q in q1} == {"uncertain", "audit", "page"}  # page items: on by default (issue 14)
    with dbm.session(settings.db_url) as db:  # the scripted annotator's one key on a page item: a URL label
        url_labels = {(r.queue_item_id, r.scope) for r in db.exec(select(dbm.Label).where(dbm.Label.round_id == r1.id))}
    pages_done = [q for q in q1 if q.kind == "page" and q.status == "done"]
    assert pages_done and all((q.id, "url") in url_labels for q in pages_done)


def test_page_items_fill_the_budget_one_per_site_and_report_their_yield(loop):
    settings, r1, _, _ = loop
    truth = read_truth(LABELS)
    with dbm.session(settings.db_url) as db:
        items = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == r1.id,
                                                    dbm.QueueItem.kind == "page")).all()  # fmt: skip
    sites = [split_url(i.details["url"])[1] for i in items]
    assert len(items) == settings.page_items_max  # three WARC files hold far more sites than the budget
    assert len(set(sites)) == len(sites) and {i.strategy for i in items} <= set(STRATEGIES)
    assert {"disagreement", "audit"} <= {i.strategy for i in items}
    assert all(i.details["prior"] is not None for i in items)  # the recall pass wrote each page's prior
    report = round_report(settings, 1)["queue"]["page_item_yields"]
    assert sum(y["items"] for y in report.values()) == len(items)
    done = [i for i in items if i.status == "done"]
    for name, y in report.items():  # the scripted annotator labels by the truth: the yield is the truth's
        mine = [i for i in done if i.strategy == name]
        assert (y["labelled"], y["code"]) == (len(mine), sum(truth.get(url_key(i.details["url"])) == "code"
                                                             for i in mine))  # fmt: skip
    assert round_view(settings, r1).page_item_yields == report  # what the API serves
    print("round 1 page items (code, labelled):", {k: (y["code"], y["labelled"]) for k, y in report.items()},
          "round 2 queue:", loop[3].totals["discovery"]["queue"])


def test_seeds_read_unrecalled_labeled_pages_back_by_byte_range(loop, corpus_httpd):
    """WARC 0's page cache is gone: its labeled pages come back by range reads, the others from the cache."""
    settings, r1, _, _ = loop
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        warcs = [t.warc_url for t in db.exec(select(dbm.WarcTask).where(dbm.WarcTask.round_id == r1.id,
                 dbm.WarcTask.phase == "recall").order_by(dbm.WarcTask.id))]  # fmt: skip
        label_set = label_store.pattern_set(db)
    for pattern in SEEDS:
        label_set.add(pattern, "code")
    gone = store.path(cache_path(warcs[0], CACHE_ID))
    shutil.move(gone, gone + ".away")
    corpus_httpd.clear()
    try:
        # the seeds of a round 2 whose own cache files are the other two: round 1 is its previous round
        round2 = RoundContext.of(settings, dbm.Round(number=2), store=store)
        kwargs, counts = from_previous_round(round2, label_set, [cache_path(w, CACHE_ID) for w in warcs[1:]])
        train, _ = build_seeds(store, [cache_path(w, CACHE_ID) for w in warcs[1:]], labels=label_set, seed=2, **kwargs)
    finally:
        shutil.move(gone + ".away", gone)
    index = pq.read_table(store.path(index_path(1, warcs[0]))).to_pylist()
    unrecalled = {r["url"] for r in index if not r["kept"] and (m := label_set.match(r["url"])) and m[1] == "code"}
    assert len(unrecalled) >= 10
    read_back = {url: text for url, text, label in kwargs["readback"] if label == "code"}
    assert unrecalled <= set(read_back)
    assert counts["readback_range"] > 0 and counts["range_reads"] > 0
    # range reads of WARC 0 only, and not one whole-file read
    path0 = warcs[0].split(corpus_httpd.url, 1)[1]
    hits = corpus_httpd.paths(".warc.gz")
    assert hits and all(h.range is not None and h.path.endswith(path0) for h in hits)
    assert len(hits) == counts["range_reads"]
    # the same input the scorer saw (the scoring extractor over the same record, behind its code signals)
    cache = {r["url"]: with_signals(r["text"], r["signals"])
             for r in pq.read_table(gone, columns=["url", "text", "signals"]).to_pylist()}  # fmt: skip
    assert all(read_back[u] == cache[u] for u in unrecalled)
    # in the seeds, deduplicated by URL and text hash, the held-out slice left out
    positives = {u for u, y, s in zip(train.urls, train.labels, train.sources, strict=True) if y and s == "readback"}
    expected = {u for u in unrecalled if not is_heldout(u, settings.heldout_fraction)}
    texts = {hashlib.sha256(t.encode()).hexdigest() for t, y in zip(train.texts, train.labels, strict=True) if y}
    assert positives and positives <= expected
    in_train = set(train.urls)  # a page can already be there as one of round 1's positives (same URL)
    assert all(u in in_train or hashlib.sha256(read_back[u].encode()).hexdigest() in texts or not read_back[u].strip()
               for u in expected)  # fmt: skip
    assert len(set(train.urls) - {""}) == len([u for u in train.urls if u])  # no URL twice


def test_cli_shows_proposals_and_the_round_report(loop, monkeypatch):
    import json

    from typer.testing import CliRunner

    from webrecall.cli.main import app

    settings = loop[0]
    monkeypatch.setenv("WEBRECALL_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", "")
    out = CliRunner().invoke(app, ["domains", "show", "docs.djangoproject.com", "--round", "1", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["round"] == 1 and data["proposals"][0]["pattern"] == "docs.djangoproject.com/"
    assert all(1 <= len(p["samples"]) <= 5 and p["samples"][0]["title"] for p in data["proposals"])
    out = CliRunner().invoke(app, ["domains", "show", "nope.example", "--json"])
    assert out.exit_code == 2 and "no page" in out.output
    out = CliRunner().invoke(app, ["round", "report", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["growth"]["previous_round"] == 1
    out = CliRunner().invoke(app, ["domains", "--related", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["count"] >= 10


def _positives(settings: Settings, number: int) -> set[str]:
    """The URLs of the positives a round numbered `number` trains on, built as training builds them (the labels,
    the previous round's positives and its labelled pages read back, this round's page cache)."""
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        warcs = [t.warc_url for t in db.exec(select(dbm.WarcTask).where(dbm.WarcTask.phase == "index"))]
        label_set = label_store.pattern_set(db)
    for pattern in SEEDS:
        label_set.add(pattern, "code")
    caches = sorted({cache_path(w, CACHE_ID) for w in warcs})
    kwargs, _ = from_previous_round(RoundContext.of(settings, dbm.Round(number=number), store=store), label_set, caches)
    train, _ = build_seeds(store, caches, labels=label_set, seed=number, **kwargs)
    return {u for u, y in zip(train.urls, train.labels, strict=True) if y and u}


def test_a_retracted_label_no_longer_seeds_the_next_round(loop, monkeypatch):
    """Runs last: it retracts one of the scripted annotator's code labels (with `webrecall labels retract`)."""
    from typer.testing import CliRunner

    from webrecall.cli.main import app

    settings = loop[0]
    before = _positives(settings, 3)
    seeds = PatternSet([(p, "code") for p in SEEDS])
    with dbm.session(settings.db_url) as db:
        code = [lb for lb in label_store.current(db).values() if lb.label == "code" and lb.scope == "pattern"]
    # the code label that put the most pages into the training set, none of them under a seed pattern
    taught = {lb.id: {u for u in before if parse(lb.pattern).matches(u) and not seeds.matches(u)} for lb in code}
    label = max(code, key=lambda lb: len(taught[lb.id]))
    assert len(taught[label.id]) >= 5, {lb.pattern: len(v) for lb in code for v in [taught[lb.id]]}
    monkeypatch.setenv("WEBRECALL_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("WEBRECALL_DATABASE_URL", "")
    out = CliRunner().invoke(app, ["labels", "retract", str(label.id), "--reason", "test: a wrong label"])
    assert out.exit_code == 0, out.output
    after = _positives(settings, 3)
    with dbm.session(settings.db_url) as db:
        still = label_store.pattern_set(db)  # another standing code label may cover some of its pages
    gone = {u for u in taught[label.id] if not ((m := still.match(u)) and m[1] == "code")}
    assert gone and not gone & after, (label.pattern, len(gone), len(gone & after))
    assert len(after) > len(before) // 2  # the rest of the training set stays


def test_labels_received_counts_standing_labels_only(loop):
    """An undo row is no label, nor is the label it retracted (adds a retraction, then removes it)."""
    from webrecall.core.lifecycle.finalize import growth

    settings, r1, _, r2 = loop
    ctx, nothing = RoundContext.of(settings, r2), (np.zeros(0, np.uint64), np.zeros(0, np.int64))
    with dbm.session(settings.db_url) as db:
        standing = [label for label in label_store.current(db).values() if label.round_id == r1.id]
    before = growth(ctx, nothing).labels_received
    assert before >= len(standing) > 0
    with dbm.session(settings.db_url) as db:
        undo = label_store.retract(db, standing[0].id or 0, reason="a wrong key")
    try:
        assert growth(ctx, nothing).labels_received == before - 1  # was before + 1: the undo row counted too
    finally:
        with dbm.session(settings.db_url) as db:
            db.delete(db.get(dbm.Label, undo.id))
            db.commit()
