"""One domain as an operator sees it, the same in `webrecall domains show` and `GET /domains/{host}`: its stats
in every round, its queue items, the labels on it, and the URL-pattern proposals of one round."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webrecall.core.db import session
from webrecall.core.settings import Settings
from webrecall.core.views.stats import domain_detail, rule_distance


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def domain_view(settings: Settings, domain: str, *, round_no: int | None = None, samples: int = 3) -> dict[str, Any]:
    """History, queue items, labels and proposals (of `round_no`, default: the latest round that saw the domain,
    whether or not it is queued). ValueError if no round saw the domain and nobody labeled it, or if `round_no`
    has no page of it."""
    from webrecall.core.labelling.proposals import for_domain

    domain = domain.strip().lower()
    with session(settings.db_url) as db:
        found = domain_detail(db, domain)
    history = [_plain({"round": n, **row.model_dump(exclude={"round_id"}),
                       "rule_distance": rule_distance(row, settings.related_fraction)})
               for n, row in found["history"]]  # fmt: skip
    queue = [_plain({"round": n, **item.model_dump(exclude={"round_id", "created_at", "updated_at"})})
             for n, item in found["queue"]]  # fmt: skip
    labels = [_plain(lb.model_dump(exclude={"queue_item_id", "shown"})) for lb in found["labels"]]
    if not (history or queue or labels):
        raise ValueError(f"{domain}: no page in any round and no label")
    seen = [h["round"] for h in history]
    target = round_no if round_no is not None else (seen[-1] if seen else None)
    if round_no is not None and round_no not in seen:
        raise ValueError(f"domain {domain!r} has no page in round {round_no}")
    proposals = for_domain(settings, domain, round_no=target, samples=samples)["proposals"] if target else []
    return {"domain": domain, "round": target, "history": history, "queue": queue, "proposals": proposals,
            "labels": labels}  # fmt: skip
