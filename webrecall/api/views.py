"""Rows and core results -> public schemas (no HTTP here)."""

from __future__ import annotations

from sqlmodel import Session

from webrecall.api import schemas
from webrecall.core import params
from webrecall.core import totals as totals_mod
from webrecall.core.db import DomainStat, Label, Model, QueueItem, Round
from webrecall.core.growth import of_round
from webrecall.core.lifecycle import finalize as report
from webrecall.core.lifecycle.progress import round_progress
from webrecall.core.settings import Settings
from webrecall.core.views import stats


def model_public(model: Model, round_no: int | None) -> schemas.ModelPublic:
    return schemas.ModelPublic(
        id=model.id or 0, version=model.version, round=round_no, created_at=model.created_at,
        params=model.params, metrics=model.metrics,
    )  # fmt: skip


def round_public(db: Session, settings: Settings, rnd: Round) -> schemas.RoundPublic:
    progress = round_progress(settings, rnd.id or 0)
    totals = totals_mod.of(rnd)
    model = db.get(Model, rnd.model_id) if rnd.model_id else None
    growth = of_round(rnd)
    recorded = params.of(rnd)
    return schemas.RoundPublic(
        id=rnd.number, status=rnd.status, crawl_id=rnd.crawl_id, base_url=rnd.base_url, threshold=rnd.threshold,
        top_k=rnd.top_k, effective_threshold=rnd.effective_threshold,
        seed_patterns=recorded.seed_patterns, limit=recorded.limit, sample=recorded.sample,
        created_at=rnd.created_at, started_at=rnd.started_at,
        finished_at=rnd.finished_at, error=rnd.error,
        progress=schemas.RoundProgress(
            index=schemas.WarcProgress(**progress.index.model_dump()),
            recall=schemas.WarcProgress(**progress.recall.model_dump()),
            pages_per_s=progress.pages_per_s, eta_seconds=progress.eta_seconds,
        ),
        pages=progress.pages, html_pages=progress.html_pages,
        recalled=totals.recalled if totals.has("recalled") else progress.recall.recalled, domains=totals.domains,
        related_domains=totals.related_domains, errors=stats.error_counts(db, rnd),
        model=model_public(model, rnd.number) if model else None,
        eval=totals.eval.model_dump(mode="json", exclude_unset=True) if totals.eval else None,
        growth=schemas.Growth(**growth) if growth else None, dedup=report.dedup_counts(totals),
        redactions=schemas.Redactions(**totals.redactions.model_dump()) if totals.redactions else None,
    )  # fmt: skip


def domain_public(row: DomainStat, round_no: int, related_fraction: float) -> schemas.DomainPublic:
    return schemas.DomainPublic(round=round_no, rule_distance=stats.rule_distance(row, related_fraction),
                                **row.model_dump(exclude={"round_id"}))  # fmt: skip


def queue_item_public(item: QueueItem, round_no: int) -> schemas.QueueItemPublic:
    return schemas.QueueItemPublic(round=round_no, **item.model_dump(exclude={"round_id", "created_at", "updated_at"}))


def label_public(label: Label) -> schemas.LabelPublic:
    return schemas.LabelPublic(**label.model_dump(exclude={"queue_item_id", "shown"}))
