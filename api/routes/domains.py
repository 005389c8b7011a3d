"""Per-round domain statistics (filtered, sorted, paginated) and one domain across rounds."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlmodel import col, select

from api import schemas
from api.deps import SessionDep, SettingsDep
from api.routes import errors
from api.views import domain_public, label_public, queue_item_public
from recall.db import Round
from recall.stats import DomainSort, domain_detail, domain_page, round_by_number

router = APIRouter(prefix="/domains", tags=["domains"])


@router.get("", responses=errors(404))
def list_domains(
    settings: SettingsDep, db: SessionDep,
    round_no: Annotated[int | None, Query(alias="round", ge=1, le=schemas.INT32, description="Default: latest")] = None,
    related: Annotated[bool | None, Query(description="Only domains over (true) or under (false) the rule")] = None,
    site: Annotated[str | None, Query(max_length=253, description="Registered domain, e.g. python.org")] = None,
    prefix: Annotated[str | None, Query(max_length=253, description="Host starts with")] = None,
    min_pages: Annotated[int, Query(ge=0, le=schemas.INT32)] = 0,
    sort: Annotated[DomainSort, Query(description="uncertainty: recalled fraction closest to the rule")] = "fraction",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    offset: Annotated[int, Query(ge=0, le=schemas.INT32)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> schemas.DomainsPublic:  # fmt: skip
    """A round's domains: pages, recalled pages and fraction, score quantiles, the related flag."""
    if round_no is None:
        rnd = db.exec(select(Round).where(Round.status == "done").order_by(col(Round.number).desc())).first()
        if rnd is None:
            return schemas.DomainsPublic(data=[], count=0)
    else:
        rnd = round_by_number(db, round_no)
        if rnd is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round {round_no}")
    rows, count = domain_page(
        db, rnd.id or 0, related=related, site=site, prefix=prefix, min_pages=min_pages, sort=sort,
        descending=order == "desc", related_fraction=settings.related_fraction, offset=offset, limit=limit,
    )  # fmt: skip
    return schemas.DomainsPublic(data=[domain_public(r, rnd.number) for r in rows], count=count)


@router.get("/{domain}", responses=errors(404))
def get_domain(domain: Annotated[schemas.Domain, Path(description="Host, e.g. docs.python.org")],
               db: SessionDep) -> schemas.DomainDetail:  # fmt: skip
    """History across rounds, queue items with their pattern proposals, and the labels on this host."""
    found = domain_detail(db, domain)
    if not found["history"] and not found["queue"] and not found["labels"]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no round saw {domain} and nobody labeled it")
    queue = [queue_item_public(item, n) for n, item in found["queue"]]
    with_proposals = [q for q in queue if q.details.get("proposals")]
    proposals = list(with_proposals[-1].details["proposals"]) if with_proposals else []
    return schemas.DomainDetail(
        domain=domain, history=[domain_public(row, n) for n, row in found["history"]], queue=queue,
        proposals=proposals, labels=[label_public(lb) for lb in found["labels"]],
    )  # fmt: skip
