"""The annotation queue: counts by state and kind, and the next items annotators will get."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api import schemas
from api.deps import SessionDep
from api.routes import errors
from api.views import queue_item_public
from recall.stats import queue_summary, round_by_number

router = APIRouter(prefix="/queue", tags=["queue"])


@router.get("", responses=errors(404))
def get_queue(
    db: SessionDep,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=schemas.INT32)] = None,
    kind: Annotated[Literal["uncertain", "audit", "gold"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> schemas.QueuePublic:  # fmt: skip
    round_id = None
    if round_no is not None:
        rnd = round_by_number(db, round_no)
        if rnd is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {round_no}")
        round_id = rnd.id
    found = queue_summary(db, round_id=round_id, kind=kind, limit=limit)
    return schemas.QueuePublic(
        data=[queue_item_public(item, n) for n, item in found["next"]], count=found["by_status"].get("pending", 0),
        by_status=found["by_status"], by_kind=found["by_kind"],
    )  # fmt: skip
