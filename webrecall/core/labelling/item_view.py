"""What the Label and Review pages show: a queued domain's proposals as a tree with sample lines, a labelled
pattern's pages and figures, and the record of what an annotator saw when deciding (kept with the label)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from webrecall.core import params
from webrecall.core.db import QueueItem, Round
from webrecall.core.labelling.decisions import domain_pattern
from webrecall.core.labelling.samples import sample_blocks
from webrecall.core.queries import done_warcs, latest_done
from webrecall.core.settings import Settings
from webrecall.core.urls.patterns import parse


def round_number(db: Session, round_id: int) -> int:
    return _round(db, round_id).number


def page_cache_id(db: Session, round_id: int) -> str:
    """The page cache a round's samples come from (`RoundParams.cache_id`)."""
    return params.of(_round(db, round_id)).cache_id


def _round(db: Session, round_id: int) -> Round:
    rnd = db.get(Round, round_id)
    if rnd is None:
        raise ValueError(f"round id {round_id} does not exist")
    return rnd


UNSUGGESTED_KINDS = ("audit", "gold")


def suggests(item: QueueItem) -> bool:
    """Whether the Label page pre-fills the model's suggestion: not on audit items (an annotator anchored on the
    model would bias the audit's estimate of its precision) nor on gold items (they measure the annotators)."""
    return item.kind not in UNSUGGESTED_KINDS and not item.details.get("audit")


def suggestion(recalled_fraction: float, pages: int) -> dict[str, Any] | None:
    """The model's answer for a pattern: code when it recalls most of the pattern's pages, with the share of pages
    on that side as its confidence (the model has no notion of "mixed"); None without pages."""
    if pages <= 0:
        return None
    code = recalled_fraction >= 0.5
    return {"label": "code" if code else "non-code",
            "confidence": round(recalled_fraction if code else 1 - recalled_fraction, 4)}  # fmt: skip


def item_view(settings: Settings, round_id: int, domain: str, *, samples: int = 5) -> dict[str, Any]:
    """A queued domain as the label page shows it: proposals as a tree (depth-first), samples with lines."""
    from webrecall.core.db import session
    from webrecall.core.labelling import proposals as prop
    from webrecall.core.storage.store import Store

    with session(settings.db_url) as db:
        number, cache_id = round_number(db, round_id), page_cache_id(db, round_id)
        locations = done_warcs(db, round_id)
    pages = prop.domain_pages(Store(settings.data_dir), number, locations, {domain}, cache_id=cache_id)
    texts = dict(zip(pages["url"].to_pylist(), pages["text"].to_pylist(), strict=True)) \
        if "text" in pages.column_names else {}  # fmt: skip
    found = prop.propose(pages, domain, samples=samples)
    tree = sorted(found, key=lambda p: p.pattern.rstrip("*"))  # parents right before their children
    out = []
    for p in tree:
        d = p.as_dict()
        d["samples"] = [{**s, "blocks": sample_blocks(texts.get(s["url"]) or s["snippet"])} for s in d["samples"]]
        d["suggestion"] = suggestion(d["fraction"], d["pages"])
        out.append(d)
    if not out:
        out = [{"pattern": domain_pattern(domain), "depth": 0, "pages": 0, "recalled": 0, "fraction": 0.0,
                "score_p10": 0.0, "score_p50": 0.0, "score_p90": 0.0, "samples": []}]  # fmt: skip
    return {"round": number, "domain": domain, "proposals": out,
            "score_range": float(np.ptp([p["score_p50"] for p in out])) if out else 0.0}  # fmt: skip


def pattern_view(settings: Settings, pattern: str, *, round_id: int | None = None, samples: int = 5) -> dict[str, Any]:
    """A labelled pattern as the Review page shows it: its pages in a round (default: the latest with a page
    index), their figures, and samples spread over the score range."""
    from webrecall.core.db import session
    from webrecall.core.labelling import proposals as prop
    from webrecall.core.storage.store import Store

    pat = parse(pattern)
    with session(settings.db_url) as db:
        if round_id is None or db.get(Round, round_id) is None:
            rnd = latest_done(db)
            round_id = rnd.id if rnd is not None else None
        if round_id is None or pat.host is None:
            return {"pattern": pat.text, "round": None, "round_id": None, "pages": 0, "samples": []}
        number, cache_id = round_number(db, round_id), page_cache_id(db, round_id)
        locations = done_warcs(db, round_id)
    table = prop.domain_pages(Store(settings.data_dir), number, locations, {pat.host}, cache_id=cache_id)
    rows = [r for r in table.to_pylist() if pat.matches(r["url"])]
    if not rows:
        return {"pattern": pat.text, "round": number, "round_id": round_id, "pages": 0, "samples": []}
    scores = np.array([r["score"] for r in rows], dtype=np.float64)
    p10, p50, p90 = (round(float(x), 4) for x in np.quantile(scores, [0.1, 0.5, 0.9]))
    recalled = sum(bool(r["kept"]) for r in rows)
    picked = prop.spread_samples(rows, samples, 300)
    texts = {r["url"]: r.get("text") or "" for r in rows}
    return {"pattern": pat.text, "round": number, "round_id": round_id, "pages": len(rows), "recalled": recalled,
            "fraction": round(recalled / len(rows), 4), "score_p10": p10, "score_p50": p50, "score_p90": p90,
            "samples": [{**x, "blocks": sample_blocks(texts.get(x["url"]) or x["snippet"])}
                        for x in picked]}  # fmt: skip


def shown_record(view: dict[str, Any], pattern: str) -> dict[str, Any]:
    """What the annotator saw when deciding (kept with the label for audits)."""
    selected = next((p for p in view["proposals"] if p["pattern"] == pattern), None)
    samples = [{"url": s["url"], "score": s["score"]} for s in (selected or {}).get("samples", [])]
    return {"round": view["round"], "domain": view["domain"], "pattern": pattern,
            "proposals": [p["pattern"] for p in view["proposals"]], "samples": samples,
            "suggestion": (selected or {}).get("suggestion") if view.get("suggested", True) else None}  # fmt: skip
