"""The main job on the embedded default: one round over the local corpus (or the newest real crawl)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlmodel import col, select

from recall import db as dbm
from recall.rounds import Progress, RoundSpec, create_round, run_round
from recall.settings import Settings
from recall.sources import latest_crawl

DEMO_SEEDS = ["docs.python.org/", "www.postgresql.org/docs/"]
DEMO_CRAWL = "CC-MAIN-DEV"
COMMON_CRAWL = "https://data.commoncrawl.org/"


def run_demo(*, corpus: Path, limit: int | None, output: Path, progress: Progress | None = None,
             processes: int | None = None) -> dict[str, Any]:  # fmt: skip
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    settings = Settings(data_dir=str(output), database_url="")
    dbm.migrate(settings.db_url)
    server = None
    labels = corpus / "labels" / f"{DEMO_CRAWL}.jsonl"
    if (corpus / "crawl-data" / DEMO_CRAWL / "warc.paths.gz").exists():
        from recall.mirror import serve

        server, base_url = serve(str(corpus))
        crawl, source = DEMO_CRAWL, f"{corpus} served at {base_url}"
    else:  # no local corpus: the first WARC files of the newest real Common Crawl, over HTTPS
        base_url, crawl, labels = COMMON_CRAWL, latest_crawl(), Path("/nonexistent")
        limit = limit or 1
        source = f"{COMMON_CRAWL} (latest crawl {crawl})"
    try:
        spec = RoundSpec(crawl_id=crawl, base_url=base_url, limit=limit, seed_patterns=list(DEMO_SEEDS),
                         eval_labels=str(labels) if labels.exists() else None)  # fmt: skip
        rnd = create_round(settings, spec)
        rnd = run_round(settings, rnd.id or 0, processes=processes, progress=progress)
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
    t = rnd.totals
    summary = {
        "source": source, "crawl": crawl, "round": rnd.number, "status": rnd.status, "seeds": DEMO_SEEDS,
        "pages_read": t.get("pages", 0), "html_pages": t.get("html_pages", 0), "recalled": t.get("recalled", 0),
        "domains": t.get("domains", 0), "related_domains": t.get("related_domains", 0),
        "pages_per_s_per_core": t.get("pages_per_s", 0.0), "errors": t.get("errors", {}),
        "model": t.get("model", {}), "eval": t.get("eval"),
        "top_candidate_domains": [
            {"domain": d.domain, "pages": d.pages, "recalled": d.recalled, "fraction": round(d.fraction, 3)}
            for d in top
        ],
    }  # fmt: skip
    (output / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    main = Table(title=f"webrecall demo: round {summary['round']} on {summary['crawl']}", show_header=False)
    for key in ("source", "status", "pages_read", "html_pages", "recalled", "domains", "related_domains",
                "pages_per_s_per_core"):  # fmt: skip
        main.add_row(key, str(summary[key]))
    if summary.get("errors"):
        main.add_row("skipped records", json.dumps(summary["errors"]))
    ev = summary.get("eval")
    if ev:
        main.add_row("precision (labels)", f"{ev['precision']:.3f}")
        main.add_row("recall (labels)", f"{ev['recall']:.3f}")
        main.add_row("F1 (labels)", f"{ev['f1']:.3f}")
    domains = Table("top candidate domain", "pages", "recalled", "fraction", title="related domains (> 10% recalled)")
    for d in summary["top_candidate_domains"]:
        domains.add_row(d["domain"], str(d["pages"]), str(d["recalled"]), f"{d['fraction']:.2f}")
    return [main, domains]
