"""Rows and core results -> public schemas (no HTTP here)."""

from __future__ import annotations

from sqlmodel import Session

from webrecall.api import schemas
from webrecall.core.db import DomainStat, Label, Model, QueueItem, Round
from webrecall.core.lifecycle.progress import RoundFields, round_view
from webrecall.core.settings import Settings
from webrecall.core.views import stats


def model_public(model: Model, round_no: int | None) -> schemas.ModelPublic:
    return schemas.ModelPublic(
        id=model.id or 0, version=model.version, round=round_no, created_at=model.created_at,
        params=model.params, metrics=model.metrics,
    )  # fmt: skip


def round_public(db: Session, settings: Settings, rnd: Round) -> schemas.RoundPublic:
    """The core's view of the round (`lifecycle.progress.round_view`, what the CLI prints) in the API's shape."""
    view = round_view(settings, rnd)
    model = db.get(Model, rnd.model_id) if rnd.model_id else None
    progress = schemas.RoundProgress(
        index=schemas.WarcProgress(**view.progress.index.model_dump()),
        recall=schemas.WarcProgress(**view.progress.recall.model_dump()),
        pages_per_s=view.progress.pages_per_s, eta_seconds=view.progress.eta_seconds,
        eta_partial=view.progress.eta_partial,
    )  # fmt: skip
    fields = {name: getattr(view, name) for name in RoundFields.model_fields}
    return schemas.RoundPublic(**fields, progress=progress, model=model_public(model, rnd.number) if model else None)


def domain_public(row: DomainStat, round_no: int, related_fraction: float) -> schemas.DomainPublic:
    return schemas.DomainPublic(round=round_no, rule_distance=stats.rule_distance(row, related_fraction),
                                **row.model_dump(exclude={"round_id"}))  # fmt: skip


def queue_item_public(item: QueueItem, round_no: int) -> schemas.QueueItemPublic:
    return schemas.QueueItemPublic(round=round_no, **item.model_dump(exclude={"round_id", "created_at", "updated_at"}))


def label_public(label: Label) -> schemas.LabelPublic:
    return schemas.LabelPublic(**label.model_dump(exclude={"queue_item_id", "shown"}))
