"""Per-round domain statistics (filtered, sorted, paginated) and one domain across rounds."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep
from webrecall.api.routes import errors
from webrecall.api.views import domain_public
from webrecall.core.queries import find_round, latest_done
from webrecall.core.views.domain_view import domain_view
from webrecall.core.views.stats import DomainSort, domain_page

router = APIRouter(prefix="/domains", tags=["domains"])


@router.get("", responses=errors(404))
def list_domains(
    settings: SettingsDep, db: SessionDep,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=schemas.INT32, description="Default: latest")] = None,
    related: Annotated[bool | None, Query(description="Only domains over (true) or under (false) the rule")] = None,
    site: Annotated[str | None, Query(max_length=253, description="Registered domain, e.g. python.org")] = None,
    prefix: Annotated[str | None, Query(max_length=253, description="Host starts with")] = None,
    min_pages: Annotated[int, Query(ge=0, le=schemas.INT32)] = 0,
    sort: Annotated[DomainSort, Query(description="A field of the rows (rule_distance with order=asc: closest to "
                                                   "the related-domain rule first); ties by domain, and desc is "
                                                   "asc reversed")] = "fraction",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    offset: Annotated[int, Query(ge=0, le=schemas.INT32)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> schemas.DomainsPublic:  # fmt: skip
    """A round's domains: pages, recalled pages and fraction, score quantiles, the related flag."""
    if round_no is None:
        rnd = latest_done(db)
        if rnd is None:
            return schemas.DomainsPublic(data=[], count=0)
    else:
        rnd = find_round(db, round_no)
        if rnd is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {round_no}")
    page = domain_page(
        db, rnd.id or 0, related=related, site=site, prefix=prefix, min_pages=min_pages, sort=sort,
        descending=order == "desc", related_fraction=settings.related_fraction, offset=offset, limit=limit,
    )  # fmt: skip
    rows_out = [domain_public(r, rnd.number, settings.related_fraction) for r in page.rows]
    return schemas.DomainsPublic(data=rows_out, count=page.total, count_exact=page.exact)


@router.get("/{domain}", responses=errors(404))
def get_domain(
    domain: Annotated[schemas.Domain, Path(description="Host, e.g. docs.python.org (any case)")],
    settings: SettingsDep,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=schemas.INT32,
                                          description="Proposals of this round (default: the latest)")] = None,
    samples: Annotated[int, Query(ge=0, le=20, description="Sample pages per proposed pattern")] = 3,
) -> schemas.DomainDetail:  # fmt: skip
    """History across rounds, queue items, the labels on this host, and its URL-pattern proposals (what
    `webrecall domains show HOST --json` prints)."""
    try:
        view = domain_view(settings, domain, round_no=round_no, samples=samples)
    except ValueError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return schemas.DomainDetail.model_validate(view)
