"""Corpus totals per round and overall, from SQL aggregates (never a scan of the page files)."""

from __future__ import annotations

from fastapi import APIRouter

from webrecall.api import schemas
from webrecall.api.deps import SessionDep
from webrecall.core.views.stats import corpus_stats

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("")
def get_stats(db: SessionDep) -> schemas.StatsPublic:
    """Pages, tokens, domains, languages and recalled fraction per round; overall counts."""
    return schemas.StatsPublic.model_validate(corpus_stats(db))
