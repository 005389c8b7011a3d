"""Prometheus metrics (prometheus_client's text format): rounds by status, WARC tasks by phase and status, pages/s,
queue depth, labels. Gauges computed from the database at each scrape, so every API process reports the same."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlmodel import col, select

from webrecall.api.deps import SessionDep, SettingsDep
from webrecall.core import totals
from webrecall.core.db import Round
from webrecall.core.lifecycle.progress import round_progress
from webrecall.core.views.stats import corpus_dedup, service_counts

router = APIRouter(prefix="/metrics", tags=["metrics"])


class _Snapshot:
    """A collector over one scrape's figures (prometheus_client renders and escapes them)."""

    def __init__(self, counts: dict[str, Any], latest_rate: tuple[str, str, float] | None,
                 dedup: list[tuple[str, str, int]], redacted: list[tuple[str, str, int]]) -> None:  # fmt: skip
        self.counts, self.latest_rate, self.dedup, self.redacted = counts, latest_rate, dedup, redacted

    def collect(self) -> Iterator[Metric]:
        c = self.counts
        rounds = GaugeMetricFamily("webrecall_rounds", "Rounds by status.", labels=["status"])
        for status, n in sorted(c["rounds"].items()):
            rounds.add_metric([status], n)
        tasks = GaugeMetricFamily("webrecall_warc_tasks", "WARC tasks by phase and status.", labels=["phase", "status"])
        for phase, status, n, _ in sorted(c["tasks"]):
            tasks.add_metric([phase, status], n)
        html = sum(pages for p, s, _, pages in c["tasks"] if p == "index" and s == "done")
        yield rounds
        yield tasks
        yield GaugeMetricFamily("webrecall_html_pages", "HTML pages read by finished index tasks.", value=html)
        if self.latest_rate is not None:
            rate = GaugeMetricFamily("webrecall_latest_round_pages_per_second",
                                     "HTML pages/s of the latest round (wall time, to its end once finished).",
                                     labels=["round", "status"])  # fmt: skip
            rate.add_metric(list(self.latest_rate[:2]), self.latest_rate[2])
            yield rate
        yield _per_round(
            "webrecall_dedup_pages", "Recalled pages by dedup outcome (kept, exact_url, exact_text, near_dup, "
            'contaminated), per round and for the corpus of all rounds (round="all").', "outcome", self.dedup)
        yield _per_round(
            "webrecall_redacted_values", "Secrets and personal data an export of the round replaces by placeholders, "
            "by kind (email, ip_address, aws_access_key, ...), per finished round.", "kind", self.redacted)
        queue = GaugeMetricFamily("webrecall_queue_items", "Annotation queue items by status.", labels=["status"])
        for status, n in sorted(c["queue"].items()):
            queue.add_metric([status], n)
        yield queue
        yield GaugeMetricFamily("webrecall_queue_depth", "Pending annotation queue items.",
                                value=c["queue"].get("pending", 0))  # fmt: skip
        yield GaugeMetricFamily("webrecall_labels", "Labels given (append-only history).", value=c["labels"])


def _per_round(name: str, doc: str, label: str, rows: list[tuple[str, str, int]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["round", label])
    for round_no, value, n in rows:
        family.add_metric([round_no, value], n)
    return family


@router.get("", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})  # fmt: skip
def metrics(settings: SettingsDep, db: SessionDep) -> Response:
    counts = service_counts(db)
    latest = counts["latest_round"]
    rate = None
    if latest is not None and latest.status != "cancelled":  # stopped part way: no throughput to speak of
        rate = (str(latest.number), latest.status, round_progress(settings, latest.id or 0).pages_per_s)
    rounds = db.exec(select(Round).where(Round.status == "done").order_by(col(Round.number))).all()
    dedup = [(str(r.number), k, int(v)) for r in rounds
             for k, v in sorted(totals.dedup_round(totals.of(r)).items())]
    dedup += [("all", k, int(v)) for k, v in sorted((corpus_dedup(rounds) or {}).items())]  # fmt: skip
    redacted = [(str(r.number), kind, n) for r in rounds if (t := totals.of(r).redactions) is not None
                for kind, n in sorted(t.kinds.items())]  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(counts, rate, dedup, redacted))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
