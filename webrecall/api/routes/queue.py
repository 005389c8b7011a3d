"""The annotation queue: counts by state and kind, and the next items annotators will get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, TokenDep
from webrecall.api.routes import AUTH, errors
from webrecall.api.views import queue_item_public
from webrecall.core.db import QueueItem, QueueKind
from webrecall.core.labelling import item_view, queue, review
from webrecall.core.queries import find_round
from webrecall.core.views.stats import queue_summary

router = APIRouter(prefix="/queue", tags=["queue"])


@router.get("", responses=errors(404))
def get_queue(
    db: SessionDep,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=schemas.INT32)] = None,
    kind: Annotated[QueueKind | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> schemas.QueuePublic:  # fmt: skip
    round_id = None
    if round_no is not None:
        rnd = find_round(db, round_no)
        if rnd is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {round_no}")
        round_id = rnd.id
    found = queue_summary(db, round_id=round_id, kind=kind, limit=limit)
    return schemas.QueuePublic(
        data=[queue_item_public(item, n) for n, item in found["next"]], count=found["by_status"].get("pending", 0),
        by_status=found["by_status"], by_kind=found["by_kind"],
    )  # fmt: skip


def _round_id(db: SessionDep, number: int) -> int:
    rnd = find_round(db, number)
    if rnd is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {number}")
    return rnd.id or 0


@router.patch("/rounds/{number}", responses={**AUTH, **errors(400, 404)})
def patch_queue_round(
    number: Annotated[int, Path(ge=1, le=schemas.INT32)], body: schemas.QueueRoundUpdate, db: SessionDep, _: TokenDep
) -> schemas.QueueRoundPublic:
    """Switch double annotation for a round: every queued domain of it needs `labels_needed` annotators."""
    out = queue.set_labels_needed(db, _round_id(db, number), body.labels_needed)
    return schemas.QueueRoundPublic(round=number, labels_needed=body.labels_needed, **out)


def _gold_public(db: SessionDep, item: QueueItem) -> schemas.GoldPublic:
    return schemas.GoldPublic(id=item.id or 0, round=item_view.round_number(db, item.round_id), domain=item.domain,
                              answers=item.details.get("gold", {}), labeled_by=item.labeled_by)  # fmt: skip


@router.get("/gold")
def get_gold(db: SessionDep) -> schemas.GoldsPublic:
    """The gold items in use (known answers mixed into the queue) and each annotator's accuracy on them."""
    items = [_gold_public(db, i) for i in review.gold_items(db)]
    return schemas.GoldsPublic(data=items, count=len(items), accuracy=review.gold_accuracy(db))


@router.post("/gold", status_code=status.HTTP_201_CREATED, responses={**AUTH, **errors(400, 404, 409)})
def post_gold(body: schemas.GoldCreate, db: SessionDep, _: TokenDep) -> schemas.GoldPublic:
    """Mix a domain with known answers (pattern -> label) into a round's queue; every annotator labels it."""
    round_id = _round_id(db, body.round)
    try:
        added = review.add_gold(db, round_id, body.domain, dict(body.answers), priority=body.priority)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if not added:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{body.domain} is already queued in round {body.round}")
    item = next(i for i in review.gold_items(db) if i.round_id == round_id and i.domain == body.domain.lower())
    return _gold_public(db, item)


@router.delete("/gold/{item_id}", responses={**AUTH, **errors(404)})
def delete_gold(
    item_id: Annotated[int, Path(ge=1, le=schemas.INT32)], db: SessionDep, _: TokenDep
) -> schemas.GoldPublic:
    """Take a gold item out of the queue (the accuracy measured on it so far stays)."""
    try:
        return _gold_public(db, review.remove_gold(db, item_id))
    except ValueError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
