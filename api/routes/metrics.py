"""Prometheus text: rounds by status, WARC tasks by phase and status, pages/s, queue depth, labels."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlmodel import col, select

from api.deps import SessionDep, SettingsDep
from recall.db import Round
from recall.rounds import round_progress
from recall.stats import corpus_dedup, service_counts

router = APIRouter(prefix="/metrics", tags=["metrics"])
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("", response_class=PlainTextResponse,
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})  # fmt: skip
def metrics(settings: SettingsDep, db: SessionDep) -> PlainTextResponse:
    counts = service_counts(db)
    lines: list[str] = []

    def family(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}"])
        for labels, value in samples:
            tags = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{tags}}} {value}" if tags else f"{name} {value}")

    family("webrecall_rounds", "gauge", "Rounds by status.", [({"status": s}, n) for s, n in counts["rounds"].items()])
    family("webrecall_warc_tasks", "gauge", "WARC tasks by phase and status.",
           [({"phase": p, "status": s}, n) for p, s, n, _ in counts["tasks"]])  # fmt: skip
    family("webrecall_html_pages", "gauge", "HTML pages read by finished index tasks.",
           [({}, sum(pages for p, s, _, pages in counts["tasks"] if p == "index" and s == "done"))])
    latest = counts["latest_round"]
    if latest is not None:
        progress = round_progress(settings, latest.id or 0)
        family("webrecall_latest_round_pages_per_second", "gauge", "Pages/s of the latest round (wall time).",
               [({"round": str(latest.number), "status": latest.status}, progress["pages_per_s"])])
    rounds = db.exec(select(Round).where(Round.status == "done").order_by(col(Round.number))).all()
    family("webrecall_dedup_pages", "gauge", "Recalled pages by dedup outcome (kept, exact_url, exact_text, near_dup, "
           "contaminated), per round and for the corpus of all rounds (round=\"all\").",
           [({"round": str(r.number), "outcome": k}, v) for r in rounds
            for k, v in sorted(((r.totals or {}).get("dedup") or {}).get("round", {}).items())]
           + [({"round": "all", "outcome": k}, v) for k, v in sorted((corpus_dedup(rounds) or {}).items())])
    family("webrecall_queue_items", "gauge", "Annotation queue items by status.",
           [({"status": s}, n) for s, n in counts["queue"].items()])
    depth = counts["queue"].get("pending", 0)
    family("webrecall_queue_depth", "gauge", "Pending annotation queue items.", [({}, depth)])
    family("webrecall_labels", "gauge", "Labels given (append-only history).", [({}, counts["labels"])])
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)
