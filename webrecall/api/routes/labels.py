"""Labels: bulk import of URL-pattern labels (append-only), and the whole history as JSONL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlmodel import col, select

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep, TokenDep
from webrecall.api.routes import AUTH, errors
from webrecall.api.streams import NDJSONResponse, jsonl
from webrecall.core.db import Label, session
from webrecall.core.label_store import import_labels, retract

router = APIRouter(prefix="/labels", tags=["labels"])
PAGE = 1000


@router.post("", status_code=status.HTTP_201_CREATED, responses={**AUTH, **errors(400)})
def post_labels(body: schemas.LabelsCreate, db: SessionDep, _: TokenDep) -> schemas.LabelsImported:
    """Append labels `{pattern | url, label, reason?, round?}` for one annotator account, or as operator labels
    without one: all rows or none. An unknown round or annotator is a 400 with the reason."""
    rows = [r.model_dump(exclude_none=True) for r in body.labels]
    try:
        n = import_labels(db, rows, annotator=body.annotator, source="api", accounts_only=True)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return schemas.LabelsImported(imported=n)


@router.post("/{label_id}/retract", status_code=status.HTTP_201_CREATED, responses={**AUTH, **errors(400, 404, 409)})
def retract_label(
    label_id: Annotated[int, Path(ge=1, le=schemas.INT32)], body: schemas.LabelRetract, db: SessionDep, _: TokenDep
) -> schemas.RetractionPublic:
    """Retract a label: a retraction row joins the history (nothing is deleted) and the next round ignores the
    label. 404 for no such label; 409 if it is a retraction itself or was retracted already."""
    try:
        row = retract(db, label_id, reason=body.reason, by="api")
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return schemas.RetractionPublic(id=row.id or 0, retracted=label_id, pattern=row.pattern, scope=row.scope,
                                    label=str(row.shown["label"]), annotator=row.annotator, reason=row.reason,
                                    created_at=row.created_at)  # fmt: skip


@router.get("", response_class=NDJSONResponse, responses={200: {"description": "One label per line"}})
def export_labels(
    settings: SettingsDep,
    annotator: Annotated[str | None, Query(max_length=100)] = None,
    after_id: Annotated[int, Query(ge=0, le=schemas.INT32, description="Resume after this label id")] = 0,
) -> NDJSONResponse:
    """Every label ever given, oldest first (a later label by the same annotator on a pattern wins). A
    retraction is a row of its own: `source` "undo", the retracted label's id in `shown.undoes`, why in `reason`."""

    def rows() -> Iterator[dict[str, Any]]:
        last = after_id
        while True:
            with session(settings.db_url) as db:
                query = select(Label).where(col(Label.id) > last)
                if annotator is not None:
                    query = query.where(Label.annotator == annotator)
                page = db.exec(query.order_by(col(Label.id)).limit(PAGE)).all()
            for label in page:
                yield label.model_dump()
            if len(page) < PAGE:
                return
            last = page[-1].id or last

    return NDJSONResponse(jsonl(rows()))
