"""Request and response bodies: `XCreate` in, `XPublic` out, `XsPublic(data, count)` for lists.

Bounds are part of the schema (and so of the OpenAPI document): a request outside them is a 422 with the
reason, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from webrecall.core.crawl.listing import CRAWL_ID
from webrecall.core.db import check_storable
from webrecall.core.label_store import normalize_label
from webrecall.core.lifecycle.progress import RoundFields
from webrecall.core.totals import Redactions
from webrecall.core.urls.patterns import label_url_key, parse

MAX_WARCS = 100_000
MAX_HOLDOUT = 200_000
"""A Common Crawl snapshot has ~90,000 WARC files; more in one round is a typo."""
INT32 = 2**31 - 1
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
PatternText = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Domain = Annotated[str, StringConstraints(to_lower=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:\d{1,5})?$")]
"""A host; `Docs.Python.org` is the same host as `docs.python.org`."""


def _storable(value: Any) -> Any:
    """Every string of a request body, keys included, checked for what no column can hold (a 422, not a 500)."""
    if isinstance(value, str):
        check_storable(value, what="the text")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list):
        for item in value:
            _storable(item)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _storable(value)


class ModelParams(Strict):
    """fastText parameters for this round's model (unset: the service's settings)."""

    dim: int | None = Field(None, ge=2, le=1024)
    lr: float | None = Field(None, gt=0, le=10)
    word_ngrams: int | None = Field(None, ge=1, le=6)
    min_count: int | None = Field(None, ge=1, le=10_000)
    epoch: int | None = Field(None, ge=1, le=100)
    bucket: int | None = Field(None, ge=1_000, le=10_000_000)


class HoldoutLabel(Strict):
    model_config = ConfigDict(extra="forbid")

    url: Url
    label: Literal["code", "non-code"]
    kind: str | None = Field(None, max_length=40, description="e.g. docs, web, manual: figures are given per kind")
    lang: str | None = Field(None, max_length=20, description="language code: figures are given per language")


class RoundCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"crawl_id": "CC-MAIN-2024-22", "limit": 2,
                                         "seed_patterns": ["docs.python.org/", "%ask.csdn.net/questions%"]}]},
    )  # fmt: skip

    crawl_id: str | None = Field(None, max_length=80, description="Crawl id, resolved through its warc.paths.gz")
    base_url: Url | None = Field(None, description="Source base URL; must be one of the service's allowed ones")
    warcs: list[Url] = Field(default_factory=list, max_length=MAX_WARCS, description="WARC URLs instead of a crawl")
    limit: int | None = Field(None, ge=1, le=MAX_WARCS, description="Use only the first N WARC files")
    sample: float | None = Field(None, gt=0, le=1, description="Use a seeded random fraction of the WARC files")
    sample_seed: int = Field(0, ge=0, le=INT32)
    seed_patterns: list[PatternText] = Field(default_factory=list, max_length=10_000)
    threshold: float | None = Field(None, gt=0, lt=1, description="Keep pages scoring at least this")
    top_k: int | None = Field(None, ge=1, le=10**12, description="Keep the K best pages instead of a threshold")
    model: ModelParams | None = None
    labels_needed: int = Field(1, ge=1, le=10, description="Annotators per queued domain (2: double annotation)")
    holdout_labels: list[HoldoutLabel] = Field(
        default_factory=list, max_length=MAX_HOLDOUT,
        description="URL-level labels of pages that never train (no seed, negative or queue item, whatever pattern "
        "matches them); the round reports precision, recall and F1 on them apart, per kind and language")
    scan: Literal["auto", "warc", "wet"] | None = Field(
        None, description="What the round reads: `wet` scores every page's WET text and fetches only the candidates' "
        "records by range, `warc` reads every record, `auto` is `wet` where the crawl has WET files and a URL index "
        "(default: the service's setting)")
    second_stage: bool | None = Field(
        None, description="Score with a second stage (a small model over the code signals, the line shapes and the "
        "fastText logit, trained on the round's labelled pages; default: the service's setting)")

    @field_validator("crawl_id")
    @classmethod
    def _crawl_id(cls, value: str | None) -> str | None:
        if value is not None and not CRAWL_ID.fullmatch(value):
            raise ValueError(f"invalid crawl id {value!r}: expected e.g. CC-MAIN-2024-22")
        return value

    @field_validator("seed_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            parse(pattern)  # ValueError with the reason
        return value

    @model_validator(mode="after")
    def _one_source(self) -> RoundCreate:
        if bool(self.crawl_id) == bool(self.warcs):
            raise ValueError("give a crawl_id or a list of warcs (one of them)")
        if self.threshold is not None and self.top_k is not None:
            raise ValueError("give a threshold or a top_k budget, not both")
        return self


class WarcProgress(BaseModel):
    warcs_done: int = Field(description="WARC files the phase got through: done, skipped or failed")
    warcs_total: int
    running: int
    cancelled: int = Field(0, description="WARC files a cancel stopped or kept from starting")
    pages: int
    recalled: int


class RoundProgress(BaseModel):
    index: WarcProgress
    recall: WarcProgress
    pages_per_s: float = Field(description="HTML pages per second of wall time, from the round's start to its end "
                               "(to now while it runs)")
    eta_seconds: float | None = Field(description="Seconds left over every step still to come: WARC files left, "
                                      "training, finalize (None: finished, or nothing measured yet)")
    eta_partial: bool = Field(False, description="The ETA leaves out a step with no measured time yet (training or "
                              "finalize of a first round): a lower bound")


class ModelPublic(BaseModel):
    id: int
    version: str
    round: int | None
    created_at: datetime
    params: dict[str, Any]
    metrics: dict[str, Any]


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int


class RoundPublic(RoundFields):
    """A round as the CLI shows it too (`lifecycle.progress.RoundFields`), with its progress per phase and its model."""

    progress: RoundProgress
    model: ModelPublic | None


class RoundsPublic(BaseModel):
    data: list[RoundPublic]
    count: int


class RoundStats(BaseModel):
    round: int
    status: str
    pages: int
    recalled: int
    recalled_fraction: float
    chars: int = Field(description="Characters of the extracted text of all pages")
    recalled_chars: int = Field(description="Characters of the extracted text of the recalled pages")
    domains: int
    related_domains: int
    languages: dict[str, int]
    dedup: dict[str, int] | None = Field(default=None, description="This round's pages by dedup outcome")
    redactions: Redactions | None = Field(default=None, description="What an export of this round redacts")


class OverallStats(BaseModel):
    rounds: int
    rounds_done: int
    latest_done_round: int | None
    pages: int
    recalled: int
    recalled_fraction: float
    labels: int
    models: int
    dedup: dict[str, int] | None = Field(default=None, description="The corpus (rounds 1..n) by dedup outcome")
    redactions: Redactions | None = Field(default=None, description="What an export of the latest finished "
                                          "round redacts")


class StatsPublic(BaseModel):
    overall: OverallStats
    rounds: list[RoundStats]


class DomainPublic(BaseModel):
    round: int
    domain: str
    site: str
    pages: int
    recalled: int
    fraction: float
    chars: int = Field(description="Characters of the extracted text of the domain's pages")
    recalled_chars: int = Field(description="Characters of the extracted text of its recalled pages")
    rule_distance: float = Field(description="|fraction - the related-domain fraction| (sort=rule_distance&order=asc: "
                                 "closest to the rule first)")
    score_mean: float
    score_p10: float
    score_p50: float
    score_p90: float
    related: bool


class DomainsPublic(BaseModel):
    data: list[DomainPublic]
    count: int
    count_exact: bool = Field(default=True, description="false: a filter matches more rows than `count` "
                                                        "(counting stops at 100,000)")


class QueueItemPublic(BaseModel):
    id: int
    round: int
    domain: str
    priority: float
    reason: str
    kind: str
    status: str
    labels_needed: int
    labeled_by: list[str]
    claimed_by: str
    lease_until: datetime | None
    details: dict[str, Any]
    strategy: str = Field(default="", description="What chose a page item: uncertainty, disagreement, coverage or "
                                                  "audit (empty for a domain item)")  # fmt: skip


class QueuePublic(BaseModel):
    data: list[QueueItemPublic] = Field(description="The next pending items, in the order annotators get them")
    count: int = Field(description="Pending items")
    by_status: dict[str, int]
    by_kind: dict[str, int]


class QueueRoundUpdate(Strict):
    labels_needed: int = Field(ge=1, le=10, description="Annotators per queued domain of the round (2: double)")


class QueueRoundPublic(BaseModel):
    round: int
    labels_needed: int
    items: int = Field(description="Queue items of the round now needing `labels_needed` annotators")
    reopened: int = Field(description="Finished items that went back to the queue for more annotators")
    finished: int = Field(description="Waiting items that already had enough annotators")


class GoldCreate(Strict):
    round: int = Field(ge=1, le=INT32)
    domain: str = Field(min_length=1, max_length=253)
    answers: dict[PatternText, Literal["code", "non-code", "mixed"]] = Field(min_length=1, max_length=1000)
    priority: float = 0.0


class GoldPublic(BaseModel):
    id: int
    round: int
    domain: str
    answers: dict[str, str]
    labeled_by: list[str]


class GoldsPublic(BaseModel):
    data: list[GoldPublic]
    count: int
    accuracy: list[dict[str, Any]] = Field(description="Per annotator: gold patterns answered, right, accuracy")


class LabelPublic(BaseModel):
    id: int
    pattern: str
    scope: str
    label: str
    annotator: str
    round_id: int | None
    reason: str
    source: str
    created_at: datetime


class DomainDetail(BaseModel):
    domain: str
    round: int | None = Field(description="The round of the proposals (none if no round saw the domain)")
    history: list[DomainPublic]
    queue: list[QueueItemPublic]
    proposals: list[dict[str, Any]] = Field(description="URL-pattern proposals: pages, recalled fraction, score "
                                            "quantiles and sample pages")
    labels: list[LabelPublic]


class LabelCreate(Strict):
    pattern: PatternText | None = None
    url: Url | None = None
    label: str = Field(max_length=32, examples=["code"], description="code, non-code or mixed")
    reason: str = Field("", max_length=2000)
    round: int | None = Field(None, ge=1, le=INT32)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return normalize_label(value)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        return parse(value).text if value is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            label_url_key(value)  # ValueError with the reason
        return value

    @model_validator(mode="after")
    def _target(self) -> LabelCreate:
        if (self.pattern is None) == (self.url is None):
            raise ValueError("give a pattern or a url (one of them)")
        return self


class LabelsCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"annotator": "alice", "labels": [
            {"pattern": "stackoverflow.com/questions/", "label": "code"},
            {"pattern": "%ask.csdn.net/questions%", "label": "code", "reason": "Q&A"}]}]},
    )  # fmt: skip

    annotator: str = Field("", max_length=100, pattern=r"^[\w.@+-]*$", description="The annotator account the "
                           "labels are given for; left out, they are operator labels (no vote in agreement)")
    labels: list[LabelCreate] = Field(min_length=1, max_length=10_000)


class LabelsImported(BaseModel):
    imported: int


class LabelRetract(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="Why the label is retracted (kept in the history)")


class RetractionPublic(BaseModel):
    id: int = Field(description="The retraction's own row in the label history")
    retracted: int = Field(description="The id of the label it retracts")
    pattern: str
    scope: str
    label: str = Field(description="The retracted label")
    annotator: str
    reason: str
    created_at: datetime


class ComponentHealth(BaseModel):
    status: Literal["ok", "error", "not configured"]
    detail: str = ""


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    storage: ComponentHealth
    broker: ComponentHealth
