"""A round with holdout and evaluation labels on CC-MAIN-DEV: held-out pages never train (not as seeds, negatives,
held-out seeds or queue items, even under a seed pattern), evaluation pages are never random negatives, and the
round reports its figures on the held-out pages per kind and language."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from tests.conftest import CORPUS
from webrecall.cli.demo import read_truth, scripted_annotation
from webrecall.core import db as dbm
from webrecall.core import params
from webrecall.core.label_store import read_jsonl
from webrecall.core.labelfile import host_hash, keys
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.training import never_train
from webrecall.core.model.seeds import build_seeds
from webrecall.core.pipeline.partials import round_index
from webrecall.core.queries import done_warcs
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import cache_path, seeds_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.domains import split_url
from webrecall.core.urls.patterns import PatternSet, url_key

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
pytestmark = pytest.mark.slow


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def held(tmp_path_factory, corpus_server):
    """Round 1 over 2 DEV files: hosts in the first 0.2 of the host hash held out (the PostgreSQL docs, a seed
    pattern's site, among them), hosts in [0.2, 0.5) the evaluation labels."""
    tmp = tmp_path_factory.mktemp("holdout")
    rows = list(read_jsonl(LABELS))
    holdout = _write(tmp / "holdout.jsonl", [r for r in rows if host_hash(r["url"]) < 0.2])
    evaluated = _write(tmp / "eval.jsonl", [r for r in rows if 0.2 <= host_hash(r["url"]) < 0.5])
    settings = Settings(data_dir=str(tmp / "data"), database_url="", text_extractor="resiliparse")
    dbm.migrate(settings.db_url)
    spec = RoundSpec(crawl_id="CC-MAIN-DEV", base_url=corpus_server, limit=2, seed_patterns=SEEDS,
                     eval_labels=evaluated, holdout_labels=holdout)  # fmt: skip
    rnd = run_round(settings, create_round(settings, spec).id or 0, processes=2)
    return settings, rnd, keys(holdout), keys(evaluated)


def test_held_out_pages_are_no_training_row_and_evaluated_pages_no_random_negative(held):
    settings, rnd, holdout, evaluated = held
    assert rnd.status == "done"
    seeds = Store(settings.data_dir).read_table(seeds_path(rnd.number)).to_pylist()
    urls = {url_key(r["url"]) for r in seeds if r["url"]}
    assert sum(r["label"] for r in seeds) > 50 and sum(not r["label"] for r in seeds) > 50
    assert not urls & holdout  # PostgreSQL's docs match a seed pattern and are held out: not one is a seed
    assert not {url_key(r["url"]) for r in seeds if r["source"] == "random_negative"} & evaluated
    assert {url_key(r["url"]) for r in seeds if r["source"] == "pattern"} & evaluated  # Python's docs still train


def test_held_out_pages_are_no_held_out_seed_either(held):
    settings, rnd, holdout, _ = held
    ctx = RoundContext.of(settings, rnd)
    with dbm.session(settings.db_url) as db:
        caches = [cache_path(loc, ctx.params.cache_id) for loc in done_warcs(db, rnd.id, "index")]
    labels: PatternSet[str] = PatternSet()
    for pattern in SEEDS:
        labels.add(pattern, "code")
    train, heldout = build_seeds(Store(settings.data_dir), caches, labels=labels, heldout_fraction=0.5,
                                 excluded=never_train(ctx))  # fmt: skip
    assert sum(heldout.labels) > 10 and len(heldout.labels) > 100
    assert not {url_key(u) for u in train.urls + heldout.urls if u} & holdout


def test_held_out_pages_get_no_queue_item(held):
    settings, rnd, holdout, _ = held
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        items = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == rnd.id)).all()
        locations = done_warcs(db, rnd.id)
    assert items and any(i.kind == "page" for i in items)
    assert not {url_key(i.details["url"]) for i in items if i.kind == "page"} & holdout
    index = round_index(store, rnd.number, locations, columns=["url", "domain"]).to_pylist()
    open_domains = {r["domain"] for r in index if url_key(r["url"]) not in holdout}
    assert {i.domain for i in items} <= open_domains  # no domain item made of held-out pages alone


def test_round_reports_the_held_out_pages_apart_per_kind_and_language(held):
    _, rnd, holdout, evaluated = held
    t = rnd.totals
    h, ev = t["holdout"], t["eval"]
    assert h["overall"]["labeled_pages"] + h["missing"] == len(holdout)
    assert h["overall"]["labeled_pages"] == 380  # the held-out hosts' pages in the first two DEV files
    assert ev["labeled_pages"] == 359
    assert {"docs", "web"} <= set(h["kind"]) and {"en", "fr", "ja"} <= set(h["lang"])
    for group in [h["overall"], *h["kind"].values(), *h["lang"].values()]:
        assert group["tp"] + group["fp"] + group["fn"] + group["tn"] == group["labeled_pages"]
        lo, hi = group["precision_ci"]
        assert 0.0 <= lo <= hi <= 1.0 and len(group["recall_ci"]) == 2
    assert t["model"]["operating_point"]["requested"] == 0.5


def test_the_scripted_annotator_gets_no_vote_on_held_out_pages(held, tmp_path):
    """The round's holdout widened, URL by URL, to every page of the domains it queued: the annotator, told every
    DEV label, has no page left to vote with, so it skips every item and gives no label."""
    settings, rnd, holdout, _ = held
    with dbm.session(settings.db_url) as db:
        queued = {i.domain for i in db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == rnd.id))}
        rows = [r for r in read_jsonl(LABELS) if url_key(r["url"]) in holdout or split_url(r["url"])[0] in queued]
        row = db.get(dbm.Round, rnd.id)
        row.params = params.updated(row, holdout_labels=_write(tmp_path / "wider.jsonl", rows))
        db.add(row)
        db.commit()
    done = scripted_annotation(settings, rnd.id or 0, read_truth(LABELS))
    assert done.get("skipped", 0) == len(queued) > 0 and done.get("labels", 0) == 0
    with dbm.session(settings.db_url) as db:
        assert not db.exec(select(dbm.Label)).all()
