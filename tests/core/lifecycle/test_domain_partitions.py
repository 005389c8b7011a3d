"""Finalize and discovery split by domain hash give what the single-process rule gives over the whole round: the
domain stats, totals, related domains, domain comparison and queue, on two real CC-MAIN-DEV rounds (the second with
labels from the first's queue and a top-K budget)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from tests.conftest import CORPUS
from webrecall.cli.demo import read_truth, scripted_annotation
from webrecall.core import db as dbm
from webrecall.core import label_store
from webrecall.core.labelling import page_items
from webrecall.core.labelling.discovery import compare, plan_items
from webrecall.core.lifecycle import domain_partitions
from webrecall.core.lifecycle.context import RoundContext
from webrecall.core.lifecycle.finalize import domain_rows
from webrecall.core.lifecycle.local import run_round
from webrecall.core.lifecycle.spec import RoundSpec, create_round
from webrecall.core.lifecycle.threshold import top_k_cut
from webrecall.core.pipeline import partials
from webrecall.core.queries import done_warcs
from webrecall.core.settings import Settings
from webrecall.core.storage.layout import domains_partial_path
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import PatternSet

SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
LABELS = CORPUS / "labels" / "CC-MAIN-DEV.jsonl"
STAT_FIELDS = ("domain", "site", "pages", "recalled", "fraction", "chars", "recalled_chars", "score_mean",
               "score_p10", "score_p50", "score_p90", "related")  # fmt: skip
pytestmark = pytest.mark.slow


def queue(settings: Settings, round_id: int) -> list[tuple[Any, ...]]:
    with dbm.session(settings.db_url) as db:
        rows = db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == round_id).order_by(col(dbm.QueueItem.id)))
        return [(q.domain, q.kind, q.reason, q.priority, q.details) for q in rows]


def stats(settings: Settings, round_id: int) -> list[dbm.DomainStat]:
    with dbm.session(settings.db_url) as db:
        return list(db.exec(select(dbm.DomainStat).where(dbm.DomainStat.round_id == round_id)
                             .order_by(col(dbm.DomainStat.domain), col(dbm.DomainStat.site))))  # fmt: skip


def single_process(settings: Settings, rnd: dbm.Round, labels: PatternSet[str], coverage: PatternSet[str],
                   previous: dbm.Round | None) -> dict[str, Any]:  # fmt: skip
    """The rule over the whole round in one process (the partials merged at once, the round's whole index, the
    labels and queue as they stand)."""
    store, ctx = Store(settings.data_dir), RoundContext.load(settings, rnd.id)
    with dbm.session(settings.db_url) as db:
        done = done_warcs(db, rnd.id)
    cut = top_k_cut(ctx, done) if rnd.top_k is not None else None
    merged = partials.merge_domains(store.read_table(domains_partial_path(rnd.number, loc)) for loc in done)
    recalled = None
    if cut is not None:
        recalled = partials.recalled_by_domain(partials.kept_at(partials.kept_tables(store, rnd.number, done)(), cut))
    rows = domain_rows(merged, rnd.id, settings.related_fraction, recalled)
    index = partials.round_index(store, rnd.number, done, columns=page_items.INDEX_COLUMNS)
    items = plan_items(settings, rnd.id, index, threshold=cut if cut is not None else rnd.threshold, labels=labels,
                       coverage=coverage, seed=rnd.number)  # fmt: skip
    ordered = sorted(rows, key=lambda r: (r["domain"], r["site"]))
    as_stats = [dbm.DomainStat(**r) for r in ordered]
    return {
        "cut": cut,
        "stats": [tuple(r[f] for f in STAT_FIELDS) for r in ordered],
        "totals": {"recalled": sum(r["recalled"] for r in rows),
                   "recalled_chars": sum(r["recalled_chars"] for r in rows), "domains": len(rows),
                   "related_domains": sum(r["related"] for r in rows),
                   "languages": dict(merged.languages.most_common(20))},  # fmt: skip
        "compare": compare(stats(settings, previous.id) if previous else [], as_stats),
        "queue": [(i.domain, i.kind, i.reason, i.priority, i.details) for i in items],
    }


def partitioned(settings: Settings, rnd: dbm.Round) -> dict[str, Any]:
    with dbm.session(settings.db_url) as db:
        rnd = db.get(dbm.Round, rnd.id)
    disc = rnd.totals["discovery"]
    return {
        "cut": rnd.effective_threshold if rnd.top_k is not None else None,
        "stats": [tuple(getattr(s, f) for f in STAT_FIELDS) for s in stats(settings, rnd.id)],
        "totals": {k: rnd.totals[k] for k in ("recalled", "recalled_chars", "domains", "related_domains", "languages")},
        "compare": {k: disc[k] for k in ("new", "grown", "dropped", "new_domains", "grown_domains", "dropped_domains")},
        "queue": queue(settings, rnd.id),
    }


@pytest.fixture(scope="module")
def rounds(tmp_path_factory, corpus_httpd):
    """Round 1 (seed patterns), its queue worked by a scripted annotator, round 2 under a top-K budget; 3
    partitions. Each round's expected figures are computed from its files as it finishes (the labels then)."""
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("parts")), database_url="", text_extractor="resiliparse",
                        finalize_partitions=3)  # fmt: skip
    dbm.migrate(settings.db_url)
    spec = {"crawl_id": "CC-MAIN-DEV", "base_url": corpus_httpd.url, "limit": 3, "seed_patterns": SEEDS}
    r1 = run_round(settings, create_round(settings, RoundSpec(**spec)).id, processes=2)
    out = [(single_process(settings, r1, PatternSet(), PatternSet(), None), partitioned(settings, r1))]
    scripted_annotation(settings, r1.id, read_truth(LABELS))
    r2 = run_round(settings, create_round(settings, RoundSpec(**spec, top_k=150)).id, processes=2)
    with dbm.session(settings.db_url) as db:
        labels, coverage = label_store.pattern_set(db), label_store.coverage_set(db)
    out.append((single_process(settings, r2, labels, coverage, r1), partitioned(settings, r2)))
    return settings, r1, r2, out


def test_partitioned_finalize_and_discovery_equal_the_single_process_rule(rounds) -> None:
    settings, r1, r2, out = rounds
    assert r1.status == r2.status == "done" and r2.top_k == 150
    for want, got in out:
        for key in want:
            assert got[key] == want[key], key
    first, second = out[0][0], out[1][0]
    # the comparison is worth checking: both rounds have related domains, round 2 labels and page items
    assert first["totals"]["related_domains"] > 0 and second["compare"]["new"] + second["compare"]["grown"] > 0
    assert {k for _, k, *_ in second["queue"]} >= {"uncertain", "audit", "page"}
    assert second["cut"] is not None and second["totals"]["recalled"] >= 150


def test_each_partition_holds_its_own_domains(rounds) -> None:
    settings, _, r2, _ = rounds
    store, seen = Store(settings.data_dir), set()
    for p in range(3):
        domains = store.read_table(domain_partitions.path(r2.number, "domains", p))["domain"]
        assert set(domain_partitions.part_of(domains, 3).tolist()) <= {p}
        assert not seen & set(domains.to_pylist())
        seen |= set(domains.to_pylist())
    assert seen == {s.domain for s in stats(settings, r2.id)}
