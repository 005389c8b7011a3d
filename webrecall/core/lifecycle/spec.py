"""What an operator asks for (`RoundSpec`), its validation, and the round row with its WARC tasks: `start_round`, the
one way every adapter starts a round."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlmodel import Session, col, select

from webrecall.core import label_store, labelfile, params
from webrecall.core.crawl.http import check_ranges
from webrecall.core.crawl.listing import resolve_crawl, wet_location
from webrecall.core.crawl.listing import select as select_paths
from webrecall.core.db import Round, WarcTask, session
from webrecall.core.errors import Conflict
from webrecall.core.lifecycle.status import TERMINAL
from webrecall.core.model.seeds import read_seed_file
from webrecall.core.params import RoundParams
from webrecall.core.queries import find_round
from webrecall.core.settings import Settings
from webrecall.core.urls.patterns import parse


@dataclass(slots=True)
class RoundSpec:
    crawl_id: str = ""
    base_url: str = ""
    warcs: list[str] = field(default_factory=list)
    limit: int | None = None
    sample: float | None = None
    sample_seed: int = 0
    seed_patterns: list[str] = field(default_factory=list)
    seed_file: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    eval_labels: str | None = None
    """A url-level labels JSONL used only to measure the round (never random negatives)."""
    holdout_labels: str | None = None
    """A url-level labels JSONL of pages that never train; the round reports its figures on them apart."""
    labels_needed: int = 1
    """Annotators per queued domain (2: double annotation, for agreement); `queue.set_labels_needed` switches it."""
    scan: Literal["auto", "warc", "wet"] | None = None
    """What the round reads (None: `Settings.scan`); see `scan_of`."""
    second_stage: bool | None = None
    """Score with a second stage (None: `Settings.second_stage`)."""


def validate(spec: RoundSpec) -> None:
    """The checks that need no source and no database; ValueError with the reason."""
    if spec.threshold is not None and spec.top_k is not None:
        raise ValueError("give a threshold or a top-K budget, not both")
    if spec.threshold is not None and not 0.0 < spec.threshold < 1.0:
        raise ValueError("threshold must be between 0 and 1 (exclusive)")
    if spec.top_k is not None and spec.top_k < 1:
        raise ValueError("top-K must be a positive number of pages")
    if not 1 <= spec.labels_needed <= 10:
        raise ValueError("labels_needed must be between 1 and 10")
    if not (spec.warcs or spec.crawl_id):
        raise ValueError("give a crawl id or WARC paths/URLs")
    for pattern in spec.seed_patterns:
        parse(pattern)


def cascade_margin(settings: Settings) -> float:
    """The cascade re-scores band pages on the round's own kept text: none when that is the cached text."""
    return settings.cascade_margin if settings.text_extractor != settings.score_extractor else 0.0


def _locations(settings: Settings, spec: RoundSpec, base_url: str) -> list[str]:
    if spec.warcs:
        locations = list(spec.warcs)
    else:
        locations = resolve_crawl(spec.crawl_id, base_url, timeout=settings.http_timeout, retries=settings.http_retries)
    locations = select_paths(locations, limit=spec.limit, sample=spec.sample, seed=spec.sample_seed)
    if not locations:
        raise ValueError("the selection contains no WARC file")
    check_ranges(locations, timeout=settings.http_timeout, retries=settings.http_retries)  # before any work
    return locations


def why_not_wet(settings: Settings, crawl_id: str, base_url: str, locations: list[str]) -> str | None:
    """Why a round over `locations` cannot scan WET files (None: it can). Two small reads: the crawl's
    `wet.paths.gz`, which must list the WET file of every WARC file read, and its index listing."""
    from webrecall.core.crawl.ccindex import index_files
    from webrecall.core.errors import WebrecallError

    if not crawl_id:
        return "the round names WARC files, not a crawl"
    if settings.expand_backend == "off":
        return "the crawl's URL index is off (WEBRECALL_EXPAND_BACKEND=off): candidates could not be looked up"
    try:
        listed = set(resolve_crawl(crawl_id, base_url, kind="wet", timeout=settings.http_timeout,
                                   retries=settings.http_retries))  # fmt: skip
    except (WebrecallError, OSError) as exc:
        return f"the crawl has no WET files ({exc})"
    try:
        missing = [loc for loc in locations if wet_location(loc) not in listed]
    except ValueError as exc:
        return str(exc)
    if missing:
        return f"wet.paths.gz does not list the WET file of {missing[0]} ({len(missing)} WARC files)"
    if settings.expand_backend == "columnar":
        try:
            index_files(crawl_id, settings.index_base_url or base_url, timeout=settings.http_timeout,
                        retries=settings.http_retries)  # fmt: skip
        except (WebrecallError, OSError) as exc:
            return f"the crawl has no columnar URL index ({exc})"
    return None


def scan_of(settings: Settings, spec: RoundSpec, base_url: str, locations: list[str]) -> Literal["warc", "wet"]:
    """`warc` or `wet`: what was asked (`auto`: `wet` where the crawl has WET files and a URL index). ValueError when
    `wet` was asked of a crawl that cannot give it."""
    asked = spec.scan or settings.scan
    if asked == "warc":
        return "warc"
    reason = why_not_wet(settings, spec.crawl_id, base_url, locations)
    if reason is None:
        return "wet"
    if asked == "wet":
        raise ValueError(f"cannot scan WET files: {reason}")
    return "warc"


def _seeds(db: Session, spec: RoundSpec, previous: Round | None, texts: int) -> tuple[list[str], str | None, int]:
    """The round's seed patterns, seed file and seed-text count: the spec's, or a later round keeps the
    previous round's (imported labels are added at training time). The spec is not changed."""
    patterns, seed_file = list(spec.seed_patterns), spec.seed_file
    if previous is not None and not (patterns or seed_file):
        recorded = params.of(previous)
        patterns, seed_file = list(recorded.seed_patterns), recorded.seed_file
        texts = len(read_seed_file(seed_file)) if seed_file else 0
    if previous is None and not (patterns or texts or label_store.has_code_labels(db)):
        raise ValueError("the first round needs seeds: --seed-pattern, --seed-file or imported code labels")
    return patterns, seed_file, texts


def _refuse_while_active(db: Session) -> None:
    active = db.exec(select(Round).where(col(Round.status).not_in(TERMINAL))).first()
    if active is not None:
        raise Conflict(f"round {active.number} is {active.status}; cancel it first")


def start_round(settings: Settings, spec: RoundSpec) -> Round:
    """How an operator starts a round (the CLI, the API, the demo): the spec validated, one round at a time (a
    Conflict while another one is unfinished), and the round created with its WARC tasks. The caller then runs it
    here (`lifecycle.local`) or hands it to the workers (`webrecall.workers.enqueue_round`)."""
    validate(spec)
    with session(settings.db_url) as db:  # before the crawl is resolved (network); checked again as it is written
        _refuse_while_active(db)
    return create_round(settings, spec, exclusive=True)


def create_round(settings: Settings, spec: RoundSpec, *, exclusive: bool = False) -> Round:
    """Validate the spec, resolve the WARC list and write the round with its tasks. Raises ValueError/FatalError;
    with `exclusive`, Conflict if another round is unfinished (`start_round`)."""
    validate(spec)
    texts = len(read_seed_file(spec.seed_file)) if spec.seed_file else 0  # before the crawl is resolved
    for path in (spec.eval_labels, spec.holdout_labels):
        try:
            labelfile.keys(path)  # a missing or broken file fails here, not at training
        except OSError as exc:
            raise ValueError(f"cannot read the labels file {path}: {exc.strerror or exc}") from None
    base_url = spec.base_url or settings.source_base_url
    locations = _locations(settings, spec, base_url)
    scan = scan_of(settings, spec, base_url, locations)
    with session(settings.db_url) as db:
        if exclusive:
            _refuse_while_active(db)
        previous = find_round(db)
        patterns, seed_file, seed_texts = _seeds(db, spec, previous, texts)
        asked = settings.threshold if spec.threshold is None else spec.threshold
        chosen = spec.threshold is None and spec.top_k is None  # an explicit threshold or budget is kept as given
        rnd = Round(
            number=previous.number + 1 if previous else 1, crawl_id=spec.crawl_id, base_url=base_url,
            threshold=asked, top_k=spec.top_k,
            params=RoundParams(
                seed_patterns=patterns, seed_file=seed_file, seed_texts=seed_texts, eval_labels=spec.eval_labels,
                holdout_labels=spec.holdout_labels, threshold_requested=asked,
                threshold_target=settings.threshold_target_precision if chosen else 0.0,
                limit=spec.limit, sample=spec.sample, labels_needed=spec.labels_needed, ft=settings.ft,
                score_extractor=settings.score_extractor, text_extractor=settings.text_extractor,
                cascade_margin=cascade_margin(settings), top_k_floor=settings.top_k_floor, dedup=settings.dedup,
                finalize_partitions=settings.finalize_partitions,
                decontam=settings.decontam, scan=scan, wet_view=settings.wet_view,
                wet_floor_recall=settings.wet_floor_recall,
                second_stage=settings.second_stage if spec.second_stage is None else spec.second_stage,
            ).as_json(),
        )  # fmt: skip
        db.add(rnd)
        db.flush()
        for phase in ("index", "sample", "recall") if scan == "wet" else ("index", "recall"):
            for loc in locations:
                db.add(WarcTask(round_id=rnd.id or 0, phase=phase, warc_url=loc))
        db.commit()
        db.refresh(rnd)
        return rnd
