"""The main job on the embedded default: the recall loop (3 rounds) over the local corpus, or one real round.

Between rounds a scripted annotator stands in for people: it works the queue like the Streamlit app does
(claim, look at the proposals, label patterns, complete) and labels each proposed pattern with the majority
label of its pages in `labels/CC-MAIN-DEV.jsonl`. Those labels are what a careful human would say. A slice of
the hosts (`HOLDOUT_FRACTION` of them by the plain host hash) is the rounds' `holdout_labels`: those pages never
train (no seed, negative, queue item or vote of the annotator), and the rounds are measured on them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from rich.table import Table
from sqlmodel import col, select

from webrecall.core import db as dbm
from webrecall.core import labelfile, params, totals
from webrecall.core.crawl.listing import latest_crawl
from webrecall.core.growth import of_round
from webrecall.core.label_store import read_jsonl
from webrecall.core.labelling import queue
from webrecall.core.labelling.page_items import KIND as PAGE_ITEM
from webrecall.core.labelling.page_items import label_page
from webrecall.core.labelling.proposals import Proposal, domain_pages, propose
from webrecall.core.lifecycle.local import OnTask, run_round
from webrecall.core.lifecycle.spec import RoundSpec, start_round
from webrecall.core.queries import done_warcs
from webrecall.core.settings import Settings
from webrecall.core.storage.store import Store
from webrecall.core.urls.patterns import url_key

DEMO_SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
DEMO_CRAWL = "CC-MAIN-DEV"
COMMON_CRAWL = "https://data.commoncrawl.org/"
ROUNDS = 3
HOLDOUT_FRACTION = 0.2
"""Of CC-MAIN-DEV's hosts by the plain host hash: 4 of its 10 documentation hosts (one with its pages in 11
languages), 3 hand-judged code pages and ~240 general pages."""


def write_holdout(labels: Path, output: Path, *, fraction: float = HOLDOUT_FRACTION,
                  kinds: tuple[str, ...] = ()) -> Path:  # fmt: skip
    """The labelled pages of the held-out hosts (`labelfile.host_split`) as a labels file beside the data dir."""
    from webrecall.core.labelfile import host_split

    rows = host_split(read_jsonl(labels), fraction=fraction, kinds=kinds)
    out = output / "holdout.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def holdout_hosts(path: Path) -> dict[str, int]:
    """Pages per held-out host, most first."""
    from urllib.parse import urlsplit

    return dict(Counter(urlsplit(r["url"]).hostname or "" for r in read_jsonl(path)).most_common())


def read_truth(path: str | Path) -> dict[str, str]:
    """url key -> 'code' | 'non-code' from a url-level labels file."""
    return {url_key(r["url"]): r["label"] for r in read_jsonl(path) if r.get("url") and r.get("label")}


def choose_labels(proposals: list[Proposal], truth: dict[str, str], *, purity: float = 0.8) -> list[dict[str, Any]]:
    """The coarsest proposals whose pages agree (>= `purity`); leftover pages get their deepest proposal."""
    covered: set[str] = set()
    out: list[dict[str, Any]] = []

    def vote(urls: list[str]) -> tuple[str, float] | None:
        votes = Counter(truth[url_key(u)] for u in urls if url_key(u) in truth)
        if not votes:
            return None
        label, n = votes.most_common(1)[0]
        return label, n / sum(votes.values())

    for p in sorted(proposals, key=lambda p: (p.depth, p.pattern)):
        urls = [u for u in p.urls if u not in covered]
        result = vote(urls) if urls else None
        if result is not None and result[1] >= purity:
            out.append({"pattern": p.pattern, "label": result[0], "reason": f"majority {result[1]:.2f}"})
            covered.update(p.urls)
    deepest: dict[str, list[str]] = {}
    for p in sorted(proposals, key=lambda p: p.depth):
        for u in p.urls:
            if u not in covered:
                deepest.setdefault(u, []).append(p.pattern)
    leftovers: dict[str, list[str]] = {}
    for u, patterns in deepest.items():
        leftovers.setdefault(patterns[-1], []).append(u)
    for pattern, urls in sorted(leftovers.items()):
        result = vote(urls)
        if result is not None:
            label = result[0] if result[1] >= 0.6 else "mixed"
            out.append({"pattern": pattern, "label": label, "reason": f"majority {result[1]:.2f}"})
    return out


def scripted_annotation(settings: Settings, round_id: int, truth: dict[str, str], *,
                        annotator: str = "script") -> dict[str, int]:  # fmt: skip
    """Work a round's queue to the end as one annotator; returns items done/skipped and labels given. The round's
    held-out pages get no vote (a label the majority of its pages decides would train on them)."""
    store = Store(settings.data_dir)
    with dbm.session(settings.db_url) as db:
        rnd = db.get(dbm.Round, round_id)
        assert rnd is not None
    if held := labelfile.keys(params.of(rnd).holdout_labels):
        truth = {k: v for k, v in truth.items() if k not in held}
    with dbm.session(settings.db_url) as db:
        locations = done_warcs(db, round_id)
        domains = {q.domain for q in db.exec(select(dbm.QueueItem).where(dbm.QueueItem.round_id == round_id))}
    pages = domain_pages(store, rnd.number, locations, domains, cache_id=params.of(rnd).cache_id)
    counts: Counter[str] = Counter()
    with dbm.session(settings.db_url) as db:
        while (item := queue.claim(db, annotator, round_id=round_id)) is not None:
            if item.kind == PAGE_ITEM:  # one page of a small site: one key, the page's own label
                truth_label = truth.get(url_key(item.details["url"]))
                if truth_label in ("code", "non-code"):
                    label_page(db, item.id or 0, annotator, code=truth_label == "code")
                    counts.update(done=1, labels=1, page_items=1)
                else:
                    queue.skip(db, item.id or 0, annotator, "no page I can judge")
                    counts["skipped"] += 1
                continue
            proposals = propose(pages, item.domain, max_patterns=500, samples=3)
            labels = choose_labels(proposals, truth)
            shown = {"proposals": [p.as_dict() for p in proposals[:10]]}
            if labels:
                queue.complete(db, item.id or 0, annotator, labels, shown=shown)
                counts["done"] += 1
                counts["labels"] += len(labels)
            else:
                queue.skip(db, item.id or 0, annotator, "no page I can judge")
                counts["skipped"] += 1
    return dict(counts)


def round_record(rnd: dbm.Round) -> dict[str, Any]:
    """One line of the per-round table: size, growth, quality, queue."""
    t = totals.of(rnd)
    g, disc = of_round(rnd) or {}, t.discovery or totals.Discovery()
    ev = t.holdout.overall if t.holdout else t.eval
    model = t.model or totals.ModelTotals()
    return {
        "round": rnd.number, "status": rnd.status, "recalled": t.recalled,
        "recalled_chars": t.recalled_chars, "new_pages": g.get("new_pages", 0),
        "new_chars": g.get("new_chars", 0), "growth": g.get("growth"), "overlap": g.get("overlap"),
        "precision": ev.precision if ev else None, "recall": ev.recall if ev else None, "f1": ev.f1 if ev else None,
        "heldout_f1": model.seed_heldout.f1 if model.seed_heldout else None,
        "seeds": model.seeds, "related_domains": t.related_domains,
        "new_related": disc.new, "grown_related": disc.grown,
        "dropped_related": disc.dropped, "queued": disc.queue.added,
        "labels_received": g.get("labels_received", 0), "stop": g.get("stop", False),
    }  # fmt: skip


def crawl_overlay(corpus: Path, output: Path) -> Path:
    """The demo crawl's WET files and URL index, as Common Crawl publishes them beside its WARC files (generated
    once beside the data dir, kept across runs; the corpus is only read)."""
    from webrecall.core.crawl.ccindex import build_index
    from webrecall.core.crawl.wetgen import build_wet

    overlay = output.parent / f"{output.name}-crawl"
    if not (overlay / "crawl-data" / DEMO_CRAWL / "cc-index-table.paths.gz").exists():
        build_index(corpus, overlay, crawls=[DEMO_CRAWL], languages=False)
    build_wet(corpus, overlay, crawls=[DEMO_CRAWL])  # up-to-date files are kept
    return overlay


def run_demo(*, corpus: Path, limit: int | None, output: Path, progress: OnTask | None = None,
             processes: int | None = None, rounds: int = ROUNDS, scan: Literal["auto", "warc", "wet"] | None = None,
             ) -> dict[str, Any]:  # fmt: skip
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    settings = Settings(data_dir=str(output), database_url="")
    dbm.migrate(settings.db_url)
    server = None
    labels = corpus / "labels" / f"{DEMO_CRAWL}.jsonl"
    if (corpus / "crawl-data" / DEMO_CRAWL / "warc.paths.gz").exists():
        from webrecall.mirror.server import serve

        overlay = crawl_overlay(corpus, output) if (scan or settings.scan) != "warc" else None
        server, base_url = serve(str(corpus), index_dir=str(overlay) if overlay else None)
        crawl, source = DEMO_CRAWL, f"{corpus} served at {base_url}"
    else:  # no local corpus: the first WARC files of the newest real Common Crawl, over HTTPS, one round
        base_url, crawl, labels = COMMON_CRAWL, latest_crawl(), Path("/nonexistent")
        limit, rounds = limit or 1, 1
        source = f"{COMMON_CRAWL} (latest crawl {crawl})"
    holdout = write_holdout(labels, output) if labels.exists() else None
    truth = read_truth(labels) if labels.exists() else {}
    records: list[dict[str, Any]] = []
    pages_read = 0
    try:
        for n in range(1, rounds + 1):
            spec = RoundSpec(crawl_id=crawl, base_url=base_url, limit=limit, seed_patterns=list(DEMO_SEEDS),
                             holdout_labels=str(holdout) if holdout else None, scan=scan)  # fmt: skip
            rnd = start_round(settings, spec)
            rnd = run_round(settings, rnd.id or 0, processes=processes, progress=progress)
            records.append(round_record(rnd))
            pages_read = pages_read or totals.of(rnd).pages  # later rounds read the page cache
            if rnd.status != "done" or records[-1]["stop"] or n == rounds or not truth:
                break
            records[-1]["annotation"] = scripted_annotation(settings, rnd.id or 0, truth)
    finally:
        if server is not None:
            server.shutdown()
    with dbm.session(settings.db_url) as db:
        top = db.exec(
            select(dbm.DomainStat)
            .where(dbm.DomainStat.round_id == rnd.id, col(dbm.DomainStat.related).is_(True))
            .order_by(col(dbm.DomainStat.recalled).desc(), col(dbm.DomainStat.fraction).desc())
            .limit(15)
        ).all()
    t = totals.of(rnd)
    summary = {
        "source": source, "crawl": crawl, "round": rnd.number, "status": rnd.status, "seeds": DEMO_SEEDS,
        "scan": rnd.params.get("scan", "warc"),
        "pages_read": pages_read, "html_pages": t.html_pages, "recalled": t.recalled,
        "domains": t.domains, "related_domains": t.related_domains,
        "pages_per_s_per_core": t.pages_per_task_s or 0.0, "errors": t.errors or {},
        "model": t.model.model_dump(mode="json", exclude_unset=True) if t.model else {},
        "eval": t.eval.model_dump(mode="json", exclude_unset=True) if t.eval else None, "rounds": records,
        "holdout": t.holdout.model_dump(mode="json") if t.holdout else None,
        "holdout_hosts": holdout_hosts(holdout) if holdout else {},
        "threshold": t.model.operating_point.model_dump(mode="json") if t.model and t.model.operating_point else None,
        "top_candidate_domains": [
            {"domain": d.domain, "pages": d.pages, "recalled": d.recalled, "fraction": round(d.fraction, 3)}
            for d in top
        ],
    }  # fmt: skip
    (output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    main = Table(title=f"webrecall demo: round {summary['round']} on {summary['crawl']}", show_header=False)
    for key in ("source", "scan", "status", "pages_read", "html_pages", "recalled", "domains", "related_domains",
                "pages_per_s_per_core"):  # fmt: skip
        main.add_row(key, str(summary.get(key, "")))
    if summary.get("errors"):
        main.add_row("skipped records", json.dumps(summary["errors"]))
    cols = {"round": "round", "recalled": "recalled", "new_pages": "new", "growth": "growth", "overlap": "overlap",
            "precision": "P", "recall": "R", "related_domains": "related", "queued": "queued",
            "labels_received": "labels"}  # fmt: skip
    per_round = Table(*cols.values(), title="rounds: P/R on the held-out hosts, growth = new chars / previous round's")
    for r in summary.get("rounds", []):
        per_round.add_row(*(_fmt(r.get(c)) for c in cols))
    domains = Table("top candidate domain", "pages", "recalled", "fraction", title="related domains (> 10% recalled)")
    for d in summary["top_candidate_domains"]:
        domains.add_row(d["domain"], str(d["pages"]), str(d["recalled"]), f"{d['fraction']:.2f}")
    return [main, per_round, holdout_table(summary.get("holdout"), summary.get("holdout_hosts") or {}), domains]


def holdout_table(holdout: dict[str, Any] | None, hosts: dict[str, int]) -> Table:
    """The last round on its held-out pages: overall, per kind, per language; counts with 95% Wilson intervals."""
    many = ", ".join(f"{h} ({n})" for h, n in list(hosts.items())[:6])
    table = Table("group", "pages", "tp", "fp", "fn", "precision [95% CI]", "recall [95% CI]", "F1",
                  title=f"held-out hosts: {len(hosts)} ({many}{', ...' if len(hosts) > 6 else ''})")  # fmt: skip
    if not holdout:
        return table

    def ci(value: float, bounds: list[float]) -> str:
        return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else f"{value:.3f}"

    groups = [("all", holdout["overall"])] + [(f"kind {k}", v) for k, v in holdout["kind"].items()]
    groups += [(f"lang {k}", v) for k, v in holdout["lang"].items() if v["labeled_pages"] >= 5]
    for name, g in groups:
        table.add_row(name, str(g["labeled_pages"]), str(g["tp"]), str(g["fp"]), str(g["fn"]),
                      ci(g["precision"], g.get("precision_ci", [])), ci(g["recall"], g.get("recall_ci", [])),
                      f"{g['f1']:.3f}")  # fmt: skip
    return table
