"""`Round.params` typed: what a round was created with, read by attribute wherever the round runs.

A round means what was recorded with it: every worker scores, cuts and deduplicates by these values whatever its
own settings say, and nothing falls back to the live settings. The column keeps its JSON shape (unknown keys of
newer or older rows are kept as extras); a row written before a field existed reads the field's default, which is
the setting's default (`Settings` declares each value once), and an old row's shapes are read as they were meant
(the decontamination config used to sit inside `dedup`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from webrecall.core.db import Round, read_json
from webrecall.core.settings import DecontamConfig, DedupConfig, FastTextParams, Settings
from webrecall.core.text.extract import get_extractor


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


class RoundParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    seed_patterns: list[str] = Field(default_factory=list)
    seed_file: str | None = None
    seed_texts: int = 0
    eval_labels: str | None = None
    """A url-level labels JSONL used only to measure the round: its pages are never random negatives."""
    holdout_labels: str | None = None
    """A url-level labels JSONL whose pages never train (no seed, negative or queue item, whatever pattern matches
    them); the round reports its figures on them apart, per kind and language."""
    limit: int | None = None
    sample: float | None = None
    labels_needed: int = 1
    """Annotators per queued domain (`labelling.queue.set_labels_needed` switches it)."""
    ft: FastTextParams = Field(default_factory=FastTextParams)
    score_extractor: str = _default("score_extractor")
    """The extractor of the page cache: the text every page is scored on."""
    text_extractor: str = _default("text_extractor")
    """The kept text's extractor (the cached text when it is `score_extractor`)."""
    cascade_margin: float = _default("cascade_margin")
    """Pages this far under the threshold are re-scored on the kept text (0: no cascade)."""
    top_k_floor: float = _default("top_k_floor")
    """With a top-K budget, pages under this score are never candidates."""
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    finalize_partitions: int = Field(_default("finalize_partitions"), ge=1)
    """Domain-hash partitions of the round's finalize and discovery (`lifecycle.domain_partitions`)."""
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    scan: Literal["warc", "wet"] = "warc"
    """What the round reads: every WARC record, or the WET text and the candidates' records (`Settings.scan`)."""
    wet_view: Literal["head", "spread"] = _default("wet_view")
    wet_floor_recall: float = _default("wet_floor_recall")
    wet_sample: float | None = None
    """A WET round's share of ordinary pages fetched for training (random negatives), chosen before it trains."""
    wet_floor: float | None = None
    """The pre-filter's floor, calibrated at training (`model.prefilter`)."""
    wet_prefilter: str | None = None
    """The pre-filter model's path in the store."""
    second_stage: bool = False
    """Whether the round's model has a second stage (`Settings.second_stage` when the round was created; rounds
    recorded before the option existed had none)."""
    threshold_requested: float | None = None
    """The threshold asked for (or the default), whatever training chose (`Round.threshold` is the one used)."""
    threshold_target: float = 0.0
    """> 0: training chooses the threshold for this precision (Wilson lower bound on the held-out seeds); 0: the
    round keeps the threshold asked for (an explicit threshold, a top-K budget, or the setting at 0)."""

    @model_validator(mode="before")
    @classmethod
    def _old_shapes(cls, data: Any) -> Any:
        if isinstance(data, dict) and "decontam" not in data and isinstance(data.get("dedup"), dict):
            dedup = data["dedup"]  # before the decontamination config had its own key
            if "benchmarks" in dedup or "decontam_ngram" in dedup:
                old = {"benchmarks": dedup.get("benchmarks"), "ngram": dedup.get("decontam_ngram")}
                return {**data, "decontam": {k: v for k, v in old.items() if v is not None}}
        return data

    @property
    def cache_id(self) -> str:
        """The key of the page cache the round scores (`storage.layout.cache_path`): its score extractor's id."""
        return get_extractor(self.score_extractor).id

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def of(rnd: Round) -> RoundParams:
    """A round's params, typed (`db.read_json`: old rows read with defaults, a value that no longer fits as its
    default)."""
    return read_json(RoundParams, rnd.params)


def updated(rnd: Round, **values: Any) -> dict[str, Any]:
    """The round's params with `values` replaced, validated: assign the result to `rnd.params`."""
    return RoundParams.model_validate({**of(rnd).model_dump(), **values}).as_json()
