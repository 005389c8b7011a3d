"""`Round.totals` typed: what finalize, the dedup stage, discovery and training write into the round's JSON
column, and what the CLI, API, annotator and views read from it by attribute.

The column keeps its JSON shape: models ignore nothing (unknown keys of newer or older rows are kept as
extras) and default every field (rows written before a field existed read as its default). Writers validate
with `merge`/`of`, and dump with `as_json`, which writes only the keys that were set.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from webrecall.core.db import Round, read_json


class Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class Growth(Part):
    """What a round added over the previous finished one (the definition is `webrecall.core.growth`): written once,
    here, for finalize, the CLI, the API (its schema) and the annotator."""

    previous_round: int | None = Field(default=None, description="The finished round compared with (none for round 1)")
    new_pages: int = Field(default=0, description="Recalled pages the previous round did not recall")
    new_chars: int = Field(default=0, description="Characters of the extracted text of those pages")
    recalled_chars_before: int = Field(default=0, description="Characters the previous round recalled")
    lost_pages: int = Field(default=0, description="Pages the previous round recalled and this one did not")
    overlap: float | None = Field(default=None, description="Share of the previous round's pages recalled again")
    growth: float | None = Field(default=None, description="new_chars / recalled_chars_before")
    stop: bool = Field(default=False, description="growth under WEBRECALL_GROWTH_STOP: the loop may stop")
    labels_received: int = Field(default=0, description="Labels given on the previous round's queue")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "new_chars" not in data and "new_tokens" in data:  # before the rename
            return {**data, "new_chars": data["new_tokens"]}
        return data


class Eval(Part):
    """Precision/recall of the recalled set against the round's url-level labels file."""

    labeled_pages: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0


class HoldoutGroup(Eval):
    """Precision, recall and F1 of the recalled set on a group of the round's holdout pages, with 95% Wilson
    intervals (`model.thresholds.wilson`): small groups are read as counts."""

    precision_ci: list[float] = Field(default_factory=list)
    recall_ci: list[float] = Field(default_factory=list)


class Holdout(Part):
    """The round's figures on its holdout labels (pages that never trained it): all of them, per kind, per language."""

    overall: HoldoutGroup = Field(default_factory=HoldoutGroup)
    kind: dict[str, HoldoutGroup] = Field(default_factory=dict)
    lang: dict[str, HoldoutGroup] = Field(default_factory=dict)
    missing: int = 0
    """Holdout rows whose page is not in the round's crawl (not measured)."""


class OperatingPoint(Part):
    """How the round's threshold was chosen (`lifecycle.threshold.operating_point`)."""

    requested: float | None = None
    target: float = 0.0
    threshold: float | None = None
    rule: str = "requested"
    met: bool | None = None


class Heldout(Part):
    """Classifier metrics on the held-out seeds (`classifier.metrics`)."""

    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    roc_auc: float | None = None


class ThresholdPoint(Part):
    """A threshold on the held-out seeds with its precision and recall (`thresholds.Threshold`)."""

    threshold: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    met: bool = False


class ModelTotals(Part):
    """The round's model: version and the metrics training recorded (`Model.metrics`)."""

    version: str | None = None
    seeds: dict[str, int] = Field(default_factory=dict)
    heldout: dict[str, int] = Field(default_factory=dict)
    readback: dict[str, Any] = Field(default_factory=dict)
    seed_heldout: Heldout | None = None
    threshold_heldout: ThresholdPoint | None = None
    threshold_for_precision: ThresholdPoint | None = None
    operating_point: OperatingPoint | None = None
    prefilter: dict[str, Any] = Field(default_factory=dict)
    """A WET round's pre-filter: its floor and how it was calibrated (`model.prefilter.Calibration`)."""
    second_stage: dict[str, Any] | None = None
    """A round with a second stage: its floor and the labelled pages that trained it (`trained: false` when too few
    did, and the round scored with fastText alone)."""


class DedupCounts(Part):
    """Pages and removed copies per reason (`webrecall.core.pipeline.dedup.merge`)."""

    pages: int = 0
    contaminated: int = 0
    exact_url: int = 0
    exact_text: int = 0
    near_dup: int = 0
    kept: int = 0


class Dedup(Part):
    round: DedupCounts = Field(default_factory=DedupCounts)
    overall: DedupCounts = Field(default_factory=DedupCounts)
    rounds: dict[str, DedupCounts] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


class Expansion(Part):
    """Labelled patterns looked up across the crawl and fetched by range (`webrecall.core.lifecycle.expansion`)."""

    patterns: dict[str, dict[str, Any]] = Field(default_factory=dict)
    warcs_done: int = 0
    warcs_failed: int = 0
    planned: int = 0
    fetched: int = 0
    warc_bytes: int = 0
    record_bytes: int = 0
    warc_bytes_ratio: float | None = None


class Redactions(Part):
    """What an export of the round's kept and expanded pages replaces by placeholders (`webrecall.core.text.redact`),
    before dedup: pages with at least one, and values by kind (`email`, `ip_address`, `aws_access_key`, ...)."""

    pages: int = Field(default=0, description="Pages with at least one value replaced")
    total: int = Field(default=0, description="Values replaced")
    kinds: dict[str, int] = Field(default_factory=dict,
                                  description="Values replaced by kind: email, ip_address, aws_access_key, ...")


class DiscoveryQueue(Part):
    added: int = 0
    uncertain: int = 0
    audit: int = 0
    page: int = 0
    page_code: int = Field(default=0, description="Domain items of sites with no recalled page whose page items "
                                                  "were labelled code")
    strategies: dict[str, int] = Field(default_factory=dict, description="Page items by the strategy that chose them")


class Discovery(Part):
    """Related domains compared with the previous round, and what was queued (`labelling.discovery`)."""

    previous_round: int | None = None
    new: int = 0
    grown: int = 0
    dropped: int = 0
    new_domains: list[dict[str, Any]] = Field(default_factory=list)
    grown_domains: list[dict[str, Any]] = Field(default_factory=list)
    dropped_domains: list[str] = Field(default_factory=list)
    queue: DiscoveryQueue = Field(default_factory=DiscoveryQueue)


class RoundTotals(Part):
    """The figures of a round; empty until finalize (a running round has only what its stages wrote)."""

    pages: int = 0
    html_pages: int = 0
    recalled: int = 0
    recalled_chars: int = 0
    domains: int = 0
    related_domains: int = 0
    errors: dict[str, int] | None = None
    warcs: int = 0
    warcs_failed: int = 0
    task_seconds: float = 0.0
    pages_per_task_s: float | None = None
    languages: dict[str, int] = Field(default_factory=dict)
    growth: Growth | None = None
    expansion: Expansion | None = None
    eval: Eval | None = None
    holdout: Holdout | None = None
    model: ModelTotals | None = None
    dedup: Dedup | None = None
    redactions: Redactions | None = None
    discovery: Discovery | None = None

    def has(self, name: str) -> bool:
        """Whether the stored row has this figure (a running round's totals are partial)."""
        return name in self.model_fields_set

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


def dedup_round(totals: RoundTotals) -> dict[str, int]:
    """This round's dedup counts as stored ({} before the dedup stage ran)."""
    return totals.dedup.round.model_dump(exclude_unset=True) if totals.dedup else {}


def of(rnd: Round) -> RoundTotals:
    """A round's totals, typed (`db.read_json`: old rows read with defaults, a figure that no longer fits as
    missing)."""
    return read_json(RoundTotals, rnd.totals)


def merge(rnd: Round, **parts: Any) -> dict[str, Any]:
    """The round's totals with `parts` replaced, validated: assign the result to `rnd.totals`."""
    return RoundTotals.model_validate({**(rnd.totals or {}), **parts}).as_json()
