"""Rounds: start (202, runs in the background), list, status with progress, cancel, retry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import func
from sqlmodel import col, select

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep, TokenDep
from webrecall.api.routes import AUTH, errors
from webrecall.api.runner import launch, stop
from webrecall.api.views import round_public
from webrecall.core import labelfile
from webrecall.core.crawl.guard import check_source
from webrecall.core.db import Round
from webrecall.core.errors import Conflict, FatalError, RetryableError
from webrecall.core.labelfile import LabeledUrl
from webrecall.core.lifecycle import spec as lifecycle_spec
from webrecall.core.lifecycle.spec import RoundSpec
from webrecall.core.lifecycle.status import TERMINAL, Status, cancel_round, retry_round, set_status
from webrecall.core.queries import find_round

router = APIRouter(prefix="/rounds", tags=["rounds"])
RoundNo = Annotated[int, Path(ge=1, le=schemas.INT32, description="Round number")]


def _get(db: SessionDep, number: int) -> Round:
    rnd = find_round(db, number)
    if rnd is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {number}")
    return rnd


def _launched(db: SessionDep, settings: SettingsDep, rnd: Round) -> schemas.RoundPublic:
    """Hand the round to its runner; a runner that cannot take it fails the round (503)."""
    try:
        launch(settings, rnd)
    except RuntimeError as exc:
        set_status(settings, rnd.id or 0, "failed", error=str(exc))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return round_public(db, settings, rnd)


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses={**AUTH, **errors(400, 409, 503)})
def start_round(body: schemas.RoundCreate, settings: SettingsDep, db: SessionDep, _: TokenDep) -> schemas.RoundPublic:
    """Validate, create the round with its WARC tasks (one round at a time), and run it in the background."""
    allowed = [settings.source_base_url, *settings.allowed_base_urls]
    try:
        base_url = check_source(body.base_url, allowed) if body.base_url else settings.source_base_url
        warcs = [check_source(w, allowed) for w in body.warcs]
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    db.rollback()  # end this session's read snapshot: the round is written through another one
    run_settings = settings
    if body.model is not None:
        ft = settings.ft.model_copy(update=body.model.model_dump(exclude_none=True))
        run_settings = settings.model_copy(update={"ft": ft})
    # a request must not hang for minutes on a dead source: few retries while resolving the crawl
    resolving = run_settings.model_copy(
        update={"http_retries": min(settings.http_retries, 1), "http_timeout": min(settings.http_timeout, 15.0)}
    )
    holdout = None
    if body.holdout_labels:
        rows = [LabeledUrl(r.url, r.label == "code", r.kind, r.lang) for r in body.holdout_labels]
        holdout = labelfile.write(rows, settings.data_dir)
    spec = RoundSpec(
        crawl_id=body.crawl_id or "", base_url=base_url, warcs=warcs, limit=body.limit, sample=body.sample,
        sample_seed=body.sample_seed, seed_patterns=list(body.seed_patterns), threshold=body.threshold,
        top_k=body.top_k, labels_needed=body.labels_needed, scan=body.scan, second_stage=body.second_stage,
        holdout_labels=holdout,
    )  # fmt: skip
    try:
        rnd = lifecycle_spec.start_round(resolving, spec)
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except RetryableError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"source unreachable: {exc}") from None
    except (ValueError, FatalError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return _launched(db, settings, rnd)


@router.get("")
def list_rounds(
    settings: SettingsDep, db: SessionDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0, le=schemas.INT32)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> schemas.RoundsPublic:  # fmt: skip
    """Rounds, newest first."""
    where = [Round.status == status_] if status_ else []
    rows = db.exec(select(Round).where(*where).order_by(col(Round.number).desc()).offset(offset).limit(limit)).all()
    count = db.exec(select(func.count()).select_from(Round).where(*where)).one()
    return schemas.RoundsPublic(data=[round_public(db, settings, r) for r in rows], count=int(count))


@router.get("/{number}", responses=errors(404))
def get_round(number: RoundNo, settings: SettingsDep, db: SessionDep) -> schemas.RoundPublic:
    """Status and progress: WARC files done/total per phase, pages, recalled, pages/s, ETA, errors, model."""
    return round_public(db, settings, _get(db, number))


@router.post("/{number}/cancel", responses={**AUTH, **errors(404, 409)})
def cancel(number: RoundNo, settings: SettingsDep, db: SessionDep, _: TokenDep) -> schemas.RoundPublic:
    """Cancel: pending WARC tasks are not started, running ones stop at their next batch, training is stopped; the
    round's processes are gone within seconds. A cancel is final: `round run` and retry refuse the round."""
    rnd = _get(db, number)
    if rnd.status in TERMINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, f"round {number} is already {rnd.status}")
    rnd = cancel_round(settings, rnd.id or 0)
    stop(settings, rnd)
    return round_public(db, settings, rnd)


@router.post("/{number}/retry", status_code=status.HTTP_202_ACCEPTED, responses={**AUTH, **errors(404, 409, 503)})
def retry(number: RoundNo, settings: SettingsDep, db: SessionDep, _: TokenDep) -> schemas.RoundPublic:
    """Retry a failed round in the background: its failed and skipped WARC files (missing, empty, not a WARC file,
    retries spent) are read again; every finished file and its model are kept. 409 unless the round failed."""
    rnd = _get(db, number)
    db.rollback()  # end this session's read snapshot: the round is written through another one
    try:
        rnd = retry_round(settings, rnd.id or 0)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _launched(db, settings, rnd)


@router.get("/{number}/expansion", responses=errors(404))
def get_expansion(number: RoundNo, settings: SettingsDep, db: SessionDep) -> dict[str, Any]:
    """The round's expansion through the crawl's URL index: per labelled pattern, captures found across the whole
    crawl, planned, fetched and failed; bytes read from the index and from the WARC files ({} if none ran)."""
    from webrecall.core.lifecycle.context import RoundContext
    from webrecall.core.lifecycle.expansion import summary

    return summary(RoundContext.of(settings, _get(db, number)))
