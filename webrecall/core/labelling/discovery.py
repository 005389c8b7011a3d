"""After a round's last WARC: compare its domains with the previous round and fill the annotation queue.

Annotator time is the scarce resource, so the queue is ordered by how much a label would teach: domains whose
recalled fraction sits near the related threshold, whose scores sit mid-range, or whose existing labels
disagree with the scores, weighted by page mass. A small random stratified slice (kind 'audit') is mixed in so
precision can be estimated without the bias of that ordering.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from itertools import chain, islice
from typing import Any, TypeVar

import pyarrow as pa
from sqlmodel import Session, col, select

from webrecall.core import totals
from webrecall.core.db import DomainStat, QueueItem, Round, session, utcnow
from webrecall.core.labelling import page_items
from webrecall.core.labelling.queue import done_domains, enqueue
from webrecall.core.queries import previous_done
from webrecall.core.settings import Settings
from webrecall.core.urls.patterns import PatternSet

MID = (0.3, 0.7)
WEIGHTS = {"near_threshold": 0.4, "mid_scores": 0.3, "disagreement": 0.3}


@dataclass(slots=True)
class DomainFeatures:
    domain: str
    pages: int = 0
    recalled: int = 0
    mid: int = 0
    labeled: int = 0
    """Pages with a code/non-code label (their disagreement with the score counts)."""
    covered: int = 0
    """Pages under any current label, conflicting ones included: nothing left to ask about them."""
    disagreement_sum: float = 0.0

    @property
    def fraction(self) -> float:
        return self.recalled / self.pages if self.pages else 0.0


def features(index: pa.Table, labels: PatternSet[str], coverage: PatternSet[str]) -> dict[str, DomainFeatures]:
    """Per-domain counts from the page index (url, domain, score, kept) and the current labels."""
    out: dict[str, DomainFeatures] = {}
    cols = [index[c].to_pylist() for c in ("url", "domain", "score", "kept")]
    for url, domain, score, kept in zip(*cols, strict=True):
        f = out.get(domain) or out.setdefault(domain, DomainFeatures(domain))
        f.pages += 1
        f.recalled += bool(kept)
        f.mid += MID[0] <= score <= MID[1]
        hit = labels.match(url) if len(labels) else None
        if hit is not None and hit[1] in ("code", "non-code"):
            f.labeled += 1
            f.disagreement_sum += abs((1.0 if hit[1] == "code" else 0.0) - float(score))
        if len(coverage) and coverage.matches(url):
            f.covered += 1
    return out


def uncertainty(f: DomainFeatures, related_fraction: float) -> dict[str, float]:
    """The three uncertainty signals in [0, 1], their weighted sum, and the priority (x log1p(pages))."""
    t = related_fraction
    near = 1 - min(1.0, (t - f.fraction) / t if f.fraction <= t else (f.fraction - t) / (1 - t))
    parts = {
        "near_threshold": max(0.0, near) if f.recalled else 0.0,  # nothing recalled: the model is sure
        "mid_scores": f.mid / f.pages if f.pages else 0.0,
        "disagreement": f.disagreement_sum / f.labeled if f.labeled else 0.0,
    }
    u = sum(WEIGHTS[k] * v for k, v in parts.items())
    return {**{k: round(v, 4) for k, v in parts.items()}, "uncertainty": round(u, 4),
            "priority": round(u * math.log1p(f.pages), 6)}  # fmt: skip


def stratum(f: DomainFeatures, related_fraction: float) -> str:
    return "none" if f.recalled == 0 else "related" if f.fraction > related_fraction else "low"


def _allocate(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split n draws over strata in proportion to their sizes (largest remainder), never over a stratum's size."""
    total = sum(sizes.values())
    if not total:
        return {}
    n = min(n, total)
    exact = {k: n * v / total for k, v in sorted(sizes.items())}
    out = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (out[k] - exact[k], k))[: n - sum(out.values())]:
        out[k] += 1
    return {k: min(v, sizes[k]) for k, v in out.items() if v}


Scored = tuple[dict[str, float], DomainFeatures]
"""A domain's uncertainty signals (`uncertainty`) and its features."""


T = TypeVar("T")


def at_ranks(stream: Iterable[T], ranks: list[int]) -> list[T]:
    """The items of `stream` at 0-based `ranks`, in the order of `ranks` (a sample's picks from a stream)."""
    wanted, found = set(ranks), {}
    for i, item in enumerate(stream):
        if i in wanted:
            found[i] = item
            if len(found) == len(wanted):
                break
    return [found[r] for r in ranks]


@dataclass(slots=True)
class Candidates:
    """The scored domains not fully labelled, in the two orders the queue rule reads them: the uncertain ones by
    (-priority, domain), and each stratum's by domain. In memory (`plan_queue`) or merged from the partitions of
    a round (`lifecycle.domain_partitions`): the rule reads the top of the first and a sample's ranks of the second."""

    ranked: Iterable[Scored]
    by_name: Callable[[str], Iterable[Scored]]
    sizes: dict[str, int]


def plan_queue(
    feats: dict[str, DomainFeatures], round_id: int, *, related_fraction: float, seed: int = 0,
    audit_fraction: float = 0.05, max_items: int = 200,
) -> list[QueueItem]:  # fmt: skip
    """Uncertain domains by priority plus ~`audit_fraction` random audit items per stratum; deterministic."""
    open_ = [f for f in feats.values() if f.covered < f.pages]  # fully labeled domains are not re-queued
    scored = sorted(((uncertainty(f, related_fraction), f) for f in open_), key=lambda s: s[1].domain)
    strata: dict[str, list[Scored]] = {}
    for u, f in scored:
        strata.setdefault(stratum(f, related_fraction), []).append((u, f))
    ranked = sorted((s for s in scored if s[0]["uncertainty"] > 0), key=lambda s: (-s[0]["priority"], s[1].domain))
    return queue_items(Candidates(ranked, lambda name: strata.get(name, []), {k: len(v) for k, v in strata.items()}),
                       round_id, related_fraction=related_fraction, seed=seed, audit_fraction=audit_fraction,
                       max_items=max_items)  # fmt: skip


def queue_items(
    found: Candidates, round_id: int, *, related_fraction: float, seed: int = 0, audit_fraction: float = 0.05,
    max_items: int = 200,
) -> list[QueueItem]:  # fmt: skip
    """The queue rule over `found`: the top uncertain domains, then a seeded stratified audit sample of the rest."""
    ranked = iter(found.ranked)
    first = next(ranked, None)
    reserve = max(1, round(audit_fraction * max_items)) if first is not None else 0
    uncertain = list(islice(chain([first], ranked), max(max_items - reserve, 0))) if first is not None else []
    items = [
        QueueItem(round_id=round_id, domain=f.domain, priority=u["priority"], kind="uncertain",
                  reason=max(WEIGHTS, key=lambda k: WEIGHTS[k] * u[k]), details={**asdict(f), **u})
        for u, f in uncertain
    ]  # fmt: skip
    n_audit = max(1, round(len(items) * audit_fraction / (1 - audit_fraction))) if items else 0
    rng = random.Random(f"{seed}:{round_id}")
    taken = {f.domain for _, f in uncertain}
    left = dict(found.sizes)
    for _, f in uncertain:
        left[stratum(f, related_fraction)] -= 1
    for name, share in _allocate(n_audit, {k: v for k, v in left.items() if v > 0}).items():
        rest = (s for s in found.by_name(name) if s[1].domain not in taken)
        for u, f in at_ranks(rest, rng.sample(range(left[name]), share)):
            # a random rank among the uncertain items: audits are seen early and late, not only at the end
            at = items[rng.randrange(len(items))].priority if items else 0.0
            items.append(QueueItem(round_id=round_id, domain=f.domain, priority=at, kind="audit",
                                   reason=f"audit:{name}", details={**asdict(f), **u, "stratum": name}))  # fmt: skip
    return items


PAGE_CODE = "page_code"
"""The reason of a domain item queued because its page items came back labelled code while none of its pages is
recalled: the related-domain rule never queues a site at 0%, however much code it has."""


def followup(f: DomainFeatures, round_id: int, code_pages: int) -> QueueItem:
    """A domain item for a site whose labelled code pages the model still misses everywhere else, first in the queue
    (uncertainty 1: the labels and the scores disagree on the whole site)."""
    priority = round(math.log1p(f.pages), 6)
    return QueueItem(round_id=round_id, domain=f.domain, kind="uncertain", reason=PAGE_CODE, priority=priority,
                     details={**asdict(f), "uncertainty": 1.0, "priority": priority, "code_pages": code_pages})


def compare(previous: list[DomainStat], current: list[DomainStat], *, top: int = 20) -> dict[str, Any]:
    """Related domains that are new, grown (more recalled pages) or dropped since the previous round.

    `recalled_before` is what the previous round recalled on the domain, related there or not.
    """
    seen = {d.domain: d for d in previous}
    before = {k: d for k, d in seen.items() if d.related}
    now = {d.domain: d for d in current if d.related}
    new = sorted((d for k, d in now.items() if k not in before), key=lambda d: -d.recalled)
    grown = sorted((d for k, d in now.items() if k in before and d.recalled > before[k].recalled),
                   key=lambda d: -(d.recalled - before[d.domain].recalled))  # fmt: skip
    dropped = sorted((d for k, d in before.items() if k not in now), key=lambda d: -d.recalled)

    def brief(d: DomainStat) -> dict[str, Any]:
        prev = seen.get(d.domain)
        return {"domain": d.domain, "pages": d.pages, "recalled": d.recalled, "fraction": round(d.fraction, 4),
                "recalled_before": prev.recalled if prev else 0}  # fmt: skip

    return {"new": len(new), "grown": len(grown), "dropped": len(dropped),
            "new_domains": [brief(d) for d in new[:top]], "grown_domains": [brief(d) for d in grown[:top]],
            "dropped_domains": [d.domain for d in dropped[:top]]}  # fmt: skip


def plan_items(
    settings: Settings, round_id: int, index: pa.Table, *, threshold: float, labels: PatternSet[str],
    coverage: PatternSet[str], seed: int = 0, audit_fraction: float = 0.05, max_items: int = 200,
) -> list[QueueItem]:  # fmt: skip
    """A round's queue from its page index (`page_items.INDEX_COLUMNS`) and the labels so far: sites whose page items
    came back labelled code while none of their pages is recalled first, then the uncertain and audit domains, then
    the page items (`settings.page_items_max`)."""
    feats = features(index, labels, coverage) if index.num_rows else {}
    with session(settings.db_url) as db:
        answered, done = page_items.page_labels(db), done_domains(db)
    unrecalled = page_items.code_pages_without_recall(answered, {d: f.recalled for d, f in feats.items()})
    # a site whose page items all came back non-code is not asked about as a domain: one page label would otherwise
    # re-queue every site the page strategies sampled (its score and label "disagree" a little)
    closed = {d for d, urls in answered.items() if not any(urls.values())}
    items = [followup(feats[d], round_id, n) for d, n in unrecalled.items() if feats[d].covered < feats[d].pages]
    items += [i for i in plan_queue(feats, round_id, related_fraction=settings.related_fraction, seed=seed,
                                    audit_fraction=audit_fraction, max_items=max_items)
              if i.domain not in unrecalled and i.domain not in closed]  # fmt: skip
    if settings.page_items_max > 0 and index.num_rows:  # single pages, chosen by several strategies
        # a domain labelled through the queue before is not asked about page by page (its labels train the model)
        items += page_items.plan_page_items(index, round_id, threshold=threshold, coverage=coverage,
                                            skip_domains={i.domain for i in items} | done, seed=seed,
                                            max_items=settings.page_items_max)  # fmt: skip
    return items


def related_rows(db: Session, round_id: int, previous_id: int | None) -> tuple[list[DomainStat], list[DomainStat]]:
    """What `compare` reads of the two rounds, O(related domains): every row of the previous round on a domain related
    in either round, and the related rows of this one, each by (domain, site)."""
    if previous_id is None:
        return [], list(db.exec(select(DomainStat).where(DomainStat.round_id == round_id, col(DomainStat.related))
                                .order_by(col(DomainStat.domain), col(DomainStat.site))))  # fmt: skip
    related = select(DomainStat.domain).where(col(DomainStat.round_id).in_([round_id, previous_id]),
                                              col(DomainStat.related))  # fmt: skip
    rows = db.exec(select(DomainStat).where(col(DomainStat.round_id).in_([round_id, previous_id]),
                                            col(DomainStat.domain).in_(related))
                   .order_by(col(DomainStat.domain), col(DomainStat.site))).all()  # fmt: skip
    return [r for r in rows if r.round_id == previous_id], [r for r in rows if r.round_id == round_id and r.related]


def discover(settings: Settings, round_id: int, *, found: Candidates,
             features_of: Callable[[set[str]], dict[str, DomainFeatures]],
             page_queue: Callable[[set[str]], list[QueueItem]], seed: int = 0, audit_fraction: float = 0.05,
             max_items: int = 200) -> dict[str, Any]:  # fmt: skip
    """Domain comparison + queue for a finished round, from its candidates (`found`; `features_of(domains)`: the
    features of those of its domains not fully labelled; `page_queue(queued domains)`: its page items); stored in
    its totals. The queue is `plan_items`'s: sites whose page items came back labelled code while none of their
    pages is recalled first, then the uncertain and audit domains, then the page items. Safe to rerun."""
    with session(settings.db_url) as db:
        rnd = db.get(Round, round_id)
        assert rnd is not None
        prev = previous_done(db, rnd.number)
        prev_rows, rows = related_rows(db, round_id, prev.id if prev else None)
        answered, done = page_items.page_labels(db), done_domains(db)
    feats = features_of(set(answered))
    unrecalled = page_items.code_pages_without_recall(answered, {d: f.recalled for d, f in feats.items()})
    closed = {d for d, urls in answered.items() if not any(urls.values())}
    items = [followup(feats[d], round_id, n) for d, n in unrecalled.items()]
    items += [i for i in queue_items(found, round_id, related_fraction=settings.related_fraction, seed=seed,
                                     audit_fraction=audit_fraction, max_items=max_items)
              if i.domain not in unrecalled and i.domain not in closed]  # fmt: skip
    if settings.page_items_max > 0:
        items += page_queue({i.domain for i in items} | done)
    with session(settings.db_url) as db:
        added = enqueue(db, items)
        pages = [i for i in items if i.kind == page_items.KIND]
        out = {"previous_round": prev.number if prev else None, **compare(prev_rows, rows),
               "queue": {"added": added, "uncertain": sum(i.kind == "uncertain" for i in items),
                         "audit": sum(i.kind == "audit" for i in items), "page": len(pages),
                         "page_code": sum(i.reason == PAGE_CODE for i in items),
                         "strategies": dict(Counter(i.strategy for i in pages))}}  # fmt: skip
        rnd = db.get(Round, round_id)
        assert rnd is not None
        rnd.totals = totals.merge(rnd, discovery=out)  # validated against `RoundTotals.discovery`
        rnd.finished_at = rnd.finished_at or utcnow()
        db.add(rnd)
        db.commit()
    return out
