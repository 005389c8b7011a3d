"""Read-side aggregates for operators (API, CLI): corpus totals, domain listings, queue state, service counts.

Everything here is a SQL aggregate or an indexed lookup over the metadata tables, never a scan of the page
files, so it stays cheap with millions of domain rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Integer, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from webrecall.core import totals
from webrecall.core.db import DomainStat, Label, Model, QueueItem, Round, WarcTask
from webrecall.core.queries import find_round

DomainSort = Literal["fraction", "recalled", "pages", "chars", "recalled_chars", "rule_distance", "domain"]
"""Sort keys of a round's domains: each is a field of the rows returned (`rule_distance`: see `rule_distance`)."""


def _i(value: Any) -> int:
    return int(value or 0)


def corpus_stats(db: Session) -> dict[str, Any]:
    """Totals per round (SQL sums over DomainStat, languages from the round's totals) and overall counts."""
    sums = db.execute(
        sa_select(
            col(DomainStat.round_id), func.count(), func.sum(DomainStat.pages), func.sum(DomainStat.recalled),
            func.sum(DomainStat.chars), func.sum(DomainStat.recalled_chars),
            func.sum(cast(col(DomainStat.related), Integer)),
        ).group_by(col(DomainStat.round_id))
    ).all()  # fmt: skip
    by_round = {r[0]: r[1:] for r in sums}
    rounds = db.exec(select(Round).order_by(col(Round.number))).all()
    per_round = []
    for rnd in rounds:
        domains, pages, recalled, chars, recalled_chars, related = by_round.get(rnd.id, (0, 0, 0, 0, 0, 0))
        t = totals.of(rnd)
        per_round.append({
            "round": rnd.number, "status": rnd.status, "pages": _i(pages), "recalled": _i(recalled),
            "recalled_fraction": round(_i(recalled) / _i(pages), 6) if pages else 0.0,
            "chars": _i(chars), "recalled_chars": _i(recalled_chars), "domains": _i(domains),
            "related_domains": _i(related), "languages": t.languages,
            "dedup": totals.dedup_round(t) if t.dedup else None,
            "redactions": t.redactions.model_dump() if t.redactions else None,
        })  # fmt: skip
    done = [r for r in per_round if r["status"] == "done"]
    overall = {
        "rounds": len(rounds), "rounds_done": len(done), "latest_done_round": done[-1]["round"] if done else None,
        "pages": done[-1]["pages"] if done else 0, "recalled": done[-1]["recalled"] if done else 0,
        "recalled_fraction": done[-1]["recalled_fraction"] if done else 0.0,
        "labels": _i(db.exec(select(func.count()).select_from(Label)).one()),
        "models": _i(db.exec(select(func.count()).select_from(Model)).one()),
        "dedup": corpus_dedup(rounds), "redactions": done[-1]["redactions"] if done else None,
    }  # fmt: skip
    return {"overall": overall, "rounds": per_round}


def corpus_dedup(rounds: Sequence[Round]) -> dict[str, int] | None:
    """Dedup counts of the whole corpus: the newest finished round's dedup covers rounds 1..n."""
    done = [(r.number, d) for r in rounds if r.status == "done" and (d := totals.of(r).dedup) is not None]
    return max(done, key=lambda nd: nd[0])[1].overall.model_dump(exclude_unset=True) if done else None


COUNT_CAP = 100_000
"""A filter's matches are counted up to this many; past it the count is a lower bound (`DomainPage.exact`): an
exact count of millions of rows would cost seconds on every page of the list."""
FILTER_FIRST = COUNT_CAP
"""A filter matching at most this many rows is read first and its rows sorted: walking a sort index for the few
rows a filter keeps can take seconds when the two are correlated (the highest fractions are hosts of a page or
two, so `min_pages=100` by fraction finds its rows only deep in that index). A filter matching more rows finds
them early in the sort index unless it is that correlated with the order."""


@dataclass(slots=True)
class DomainPage:
    rows: list[DomainStat]
    total: int
    """Rows matching the filters (a finished round's totals say it without a count)."""
    exact: bool = True
    """False: `total` is `COUNT_CAP` and more rows match."""


def domain_page(
    db: Session, round_id: int, *, related: bool | None = None, site: str | None = None, prefix: str | None = None,
    min_pages: int = 0, sort: DomainSort = "fraction", descending: bool = True, related_fraction: float = 0.1,
    offset: int = 0, limit: int = 50,
) -> DomainPage:  # fmt: skip
    """One page of a round's domain rows, filtered and sorted in SQL.

    Ties are broken by domain, and a descending list is the ascending one reversed (domain Z-A among ties): each
    order is then one index range (`DomainStat`'s indexes), read up to `offset + limit` rows, whatever the round's
    size. `rule_distance` merges two such ranges of `fraction`, above and below the rule."""
    where: list[Any] = [DomainStat.round_id == round_id]
    if related is not None:
        where.append(DomainStat.related == related)
    filters: list[Any] = []
    if site:
        filters.append(DomainStat.site == site)
    if prefix:
        filters.append(col(DomainStat.domain).startswith(prefix, autoescape=True))
    if min_pages:
        filters.append(DomainStat.pages >= min_pages)
    where += filters
    total = None if filters else _domain_count(db, round_id, related)
    exact = True
    if total is None:  # a filter's matches, counted through its index up to the cap
        capped = select(DomainStat.round_id).where(*where).limit(COUNT_CAP + 1).subquery()
        total = _i(db.exec(select(func.count()).select_from(capped)).one())
        exact, total = total <= COUNT_CAP, min(total, COUNT_CAP)
    fence = bool(filters) and exact and total <= FILTER_FIRST
    if sort == "rule_distance":
        rows = _nearest_the_rule(db, where, related_fraction, descending, offset, limit, fence=fence)
        return DomainPage(rows, total, exact)
    key: Any = {
        "fraction": col(DomainStat.fraction), "recalled": col(DomainStat.recalled), "pages": col(DomainStat.pages),
        "chars": col(DomainStat.chars), "recalled_chars": col(DomainStat.recalled_chars),
        "domain": col(DomainStat.domain),
    }[sort]  # fmt: skip
    if fence and sort != "domain":
        key = key + 0  # an expression no index provides: the planner reads the filter's rows first, then sorts
    order = [key.desc(), col(DomainStat.domain).desc()] if descending else [key.asc(), col(DomainStat.domain).asc()]
    return DomainPage(list(db.exec(select(DomainStat).where(*where).order_by(*order).offset(offset).limit(limit))),
                      total, exact)


def _domain_count(db: Session, round_id: int, related: bool | None) -> int | None:
    """A finished round's domain count (or related, or other, domains) from its totals, which finalize writes with
    its DomainStat rows: counting tens of millions of rows for every page of the list would take seconds."""
    rnd = db.get(Round, round_id)
    t = totals.of(rnd) if rnd is not None else None
    if t is None or not (t.has("domains") and t.has("related_domains")):
        return None
    return t.domains if related is None else t.related_domains if related else t.domains - t.related_domains


def _nearest_the_rule(db: Session, where: list[Any], rule: float, descending: bool, offset: int, limit: int, *,
                      fence: bool = False) -> list[DomainStat]:  # fmt: skip
    """Rows by |fraction - rule| (ascending: nearest first), then the side above the rule, then domain (A-Z above
    the rule, Z-A below, the order of one index scan away from the rule on each side); descending reverses it."""
    n, fraction, domain = offset + limit, col(DomainStat.fraction), col(DomainStat.domain)
    by = fraction + 0 if fence else fraction  # see domain_page
    up, down = (by.asc(), domain.asc()), (by.desc(), domain.desc())
    sides = [(fraction >= rule, down if descending else up), (fraction < rule, up if descending else down)]
    above, below = (list(db.exec(select(DomainStat).where(*where, side).order_by(*order).limit(n)))
                    for side, order in sides)  # descending: from the far ends inward  # fmt: skip
    rows = sorted(above, key=lambda r: r.domain) + sorted(below, key=lambda r: r.domain, reverse=True)
    rows.sort(key=lambda r: (abs(r.fraction - rule), r.fraction < rule))
    if descending:
        rows.reverse()
    return rows[offset : offset + limit]


def rule_distance(row: DomainStat, related_fraction: float) -> float:
    """How far a domain's recalled fraction is from the related-domain rule (0: on it; sort ascending for the
    domains a label would change the most). The annotation queue's own priority is `QueueItem.priority`."""
    return round(abs(row.fraction - related_fraction), 6)


def _pattern_host(pattern: str) -> str:
    return pattern.strip("%").split("/", 1)[0].split(":")[0]


def domain_detail(db: Session, domain: str) -> dict[str, Any]:
    """A domain across rounds: its stats per round, queue items (with any pattern proposals) and labels."""
    history = db.exec(
        select(Round.number, DomainStat).join(Round, col(Round.id) == DomainStat.round_id)
        .where(DomainStat.domain == domain).order_by(col(Round.number))
    ).all()  # fmt: skip
    items = db.exec(
        select(Round.number, QueueItem).join(Round, col(Round.id) == QueueItem.round_id)
        .where(QueueItem.domain == domain).order_by(col(QueueItem.id))
    ).all()  # fmt: skip
    candidates = db.exec(
        select(Label).where(col(Label.pattern).contains(domain, autoescape=True)).order_by(col(Label.id))
    ).all()
    labels = [lb for lb in candidates if _pattern_host(lb.pattern) == domain]
    return {"domain": domain, "history": history, "queue": items, "labels": labels}


def queue_summary(db: Session, *, round_id: int | None = None, kind: str | None = None,
                  limit: int = 20) -> dict[str, Any]:  # fmt: skip
    """Queue counts by status and kind, and the next pending items in the order annotators get them."""
    where: list[Any] = []
    if round_id is not None:
        where.append(QueueItem.round_id == round_id)
    if kind:
        where.append(QueueItem.kind == kind)
    counts = db.exec(
        select(QueueItem.status, QueueItem.kind, func.count()).where(*where)
        .group_by(col(QueueItem.status), col(QueueItem.kind))
    ).all()  # fmt: skip
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    for status, k, n in counts:
        by_status[status] = by_status.get(status, 0) + int(n)
        by_kind[k] = by_kind.get(k, 0) + int(n)
    nxt = db.exec(
        select(Round.number, QueueItem).join(Round, col(Round.id) == QueueItem.round_id)
        .where(QueueItem.status == "pending", *where)
        .order_by(col(QueueItem.priority).desc(), col(QueueItem.id)).limit(limit)
    ).all()  # fmt: skip
    return {"by_status": by_status, "by_kind": by_kind, "next": nxt}


def service_counts(db: Session) -> dict[str, Any]:
    """Small grouped counts for the metrics endpoint."""
    rounds = db.exec(select(Round.status, func.count()).group_by(col(Round.status))).all()
    tasks = db.exec(
        select(WarcTask.phase, WarcTask.status, func.count(), func.sum(WarcTask.html_pages))
        .group_by(col(WarcTask.phase), col(WarcTask.status))
    ).all()  # fmt: skip
    queue = db.exec(select(QueueItem.status, func.count()).group_by(col(QueueItem.status))).all()
    latest = find_round(db)
    return {
        "rounds": {s: int(n) for s, n in rounds},
        "tasks": [(p, s, int(n), _i(pages)) for p, s, n, pages in tasks],
        "queue": {s: int(n) for s, n in queue},
        "labels": _i(db.exec(select(func.count()).select_from(Label)).one()),
        "latest_round": latest,
    }
