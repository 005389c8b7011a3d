"""The one settings class. Adapters (CLI, workers, API, annotator) read it and pass values as arguments."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_TOKEN = "dev-token-change-me"


def _comma_list(value: object) -> object:
    return [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value


class FastTextParams(BaseModel):
    """fastText hyper-parameters. The papers' values, except lr, epoch and bucket (see docs/models-and-benchmarks.md).

    lr 1.0, not 0.1: a page of ~1,700 BPE tokens (x3 with word n-grams) averages its embeddings into a tiny
    hidden vector, so with a few thousand seed pages lr 0.1 never leaves the all-code prediction (train
    accuracy 0.53-0.58 on CC-MAIN-DEV even at 50 epochs); lr 1.0 fits (0.99+) and generalises.

    Plain values (a round records them, `webrecall.core.params`); `Settings.ft` reads them from the environment
    (`WEBRECALL_FT_*`, `FastTextSettings`).
    """

    dim: int = 64
    """Not the papers' 256: on CC-MAIN-BENCH with the round's code signals (out of fold, docs/models-and-benchmarks.md),
    dim 64 keeps exactly the same 41 pages as 256 and scores 3.5x faster (0.26 vs 0.94 ms a page: most of a later
    round's time); training 25 s vs 36 s, model file 53 MB vs 211 MB. A training that diverges is retried with other
    seeds, then at lower rates (classifier.train_fasttext)."""
    lr: float = 1.0
    word_ngrams: int = 3
    min_count: int = 3
    epoch: int = 3
    bucket: int = 200_000
    loss: Literal["softmax", "ns", "hs", "ova"] = "softmax"
    min_epoch_updates: int = 10_000_000
    """Train at least this many token updates: epochs = max(epoch, ceil(min_epoch_updates / tokens)).

    The papers' 3 epochs assume ~1M documents; a few thousand seed pages need more passes to converge.
    Measured on CC-MAIN-DEV (domain-held-out F1): 300 pages 0.96 at 21 epochs vs 0.88 at 3; 1,000 pages
    0.965 at 7; 2,600 pages 0.97 at 3 (unchanged). 20M adds <0.01 F1 for twice the training time.
    """
    max_epoch: int = 50
    max_tokens: int = 1024
    """BPE tokens of a page's head that the model reads (from at most 4x as many characters); see tokenizer.py."""
    threads: int = 1
    """Training threads. fastText's SGD is lock-free (Hogwild), so with more than one thread the same seeds give a
    different model each time (round 1 recall on CC-MAIN-DEV varied 0.32-0.38 with 2 threads). One thread makes a
    round reproducible and costs seconds at seed sets of thousands of pages; raise it for seed sets of millions."""
    seed: int = 0


class FastTextSettings(BaseSettings, FastTextParams):
    model_config = SettingsConfigDict(env_prefix="WEBRECALL_FT_", env_file=".env", extra="ignore",
                                      from_attributes=True)  # `Settings(ft=FastTextParams(...))` takes plain values


class DedupConfig(BaseModel):
    """MinHash dedup of the exported corpus (core/pipeline/dedup.py), FineWeb's defaults; a round records it, so
    every worker shingles and bands alike. `Settings.dedup` reads it from `WEBRECALL_DEDUP_*` (`DedupSettings`)."""

    model_config = ConfigDict(frozen=True)

    ngram: int = 5
    """Words per MinHash shingle (characters for unspaced scripts such as Chinese); FineWeb's 5."""
    num_perm: int = 112
    bands: int = 14
    rows: int = 8
    threshold: float = 0.7
    """A pair sharing a band is a near-duplicate when the estimated Jaccard of its signatures reaches this; 0.7 sits
    at the S-curve midpoint of 14 bands of 8, (1/14)^(1/8) = 0.72."""
    partitions: int = 8
    """Tasks the LSH grouping is split into (by key hash); each holds 1/N of the keys."""
    backend: str = "rensa"
    """MinHash library: rensa (measured 3x faster than datasketch, bench/dedup.py) or datasketch."""

    @model_validator(mode="after")
    def _consistent(self) -> DedupConfig:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"{self.bands} bands of {self.rows} need {self.bands * self.rows} permutations")
        if self.ngram < 1 or self.partitions < 1:
            raise ValueError("ngram and partitions must be positive")
        return self


class DedupSettings(BaseSettings, DedupConfig):
    model_config = SettingsConfigDict(env_prefix="WEBRECALL_DEDUP_", env_file=".env", extra="ignore", frozen=True,
                                      from_attributes=True)


class DecontamConfig(BaseModel):
    """Decontamination of the exported corpus (core/pipeline/decontam.py); recorded with the round like `DedupConfig`.
    `Settings.decontam` reads it from `WEBRECALL_DECONTAM_*` (`DecontamSettings`)."""

    benchmarks: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["humaneval"])
    """Benchmarks to decontaminate against (comma-separated): `humaneval` or `[name=]path.jsonl[.gz]`."""
    ngram: int = 13

    @field_validator("benchmarks", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)


class DecontamSettings(BaseSettings, DecontamConfig):
    model_config = SettingsConfigDict(env_prefix="WEBRECALL_DECONTAM_", env_file=".env", extra="ignore",
                                      from_attributes=True)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBRECALL_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: str = "data"
    database_url: str = ""
    broker_url: str = "redis://127.0.0.1:6379/0"
    api_token: str = DEV_TOKEN
    public_reads: bool = True
    """API read routes without a token (state-changing routes always need one)."""
    execution: Literal["inprocess", "celery"] = "inprocess"
    """Where rounds started from the API run: a local runner process, or Celery tasks through `broker_url`."""
    allowed_base_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Sources a round started from the API may read (comma-separated); `source_base_url` is always allowed."""

    source_base_url: str = "https://data.commoncrawl.org/"
    http_timeout: float = 60.0
    http_retries: int = 5

    threshold: float = 0.5
    max_record_bytes: int = 8 * 1024 * 1024
    score_extractor: str = "resiliparse"
    text_extractor: str = "resiliparse"
    """The kept text. `resiliparse` (= `score_extractor`): the page cache's text, code blocks fenced, nothing
    re-read; `trafilatura`: kept pages are fetched back and extracted again (recorded per round and per row)."""
    top_k_floor: float = 0.1
    """With a top-K budget, pages under this score are never candidates."""
    cascade_margin: float = 0.1
    """Only for rounds whose `text_extractor` is not `score_extractor` (trafilatura): pages whose fast score lies
    in [threshold - margin, threshold) are re-scored on the kept text. 0.1 is what `webrecall calibrate` measured
    on held-out labelled pages (99% of the code pages a trafilatura-only decision keeps, ~1.3% of pages re-scored);
    recalibrate on your own labels, 0 turns the cascade off. A round that keeps the cached text records 0."""

    scan: Literal["auto", "warc", "wet"] = "auto"
    """What a round reads of each WARC file. `wet`: every page's plain text from the crawl's WET files, scored by a
    pre-filter; only the candidates' records are looked up in the URL index and fetched by range for the full
    pipeline (docs/architecture.md, WET-first scanning). `warc`: every record of every WARC file. `auto`: `wet`
    where the crawl has WET files (its `wet.paths.gz` lists the WET file of each WARC file read) and a URL index,
    else `warc`."""
    wet_view: Literal["head", "spread"] = "head"
    """What the pre-filter reads of a WET text: its first 4,096 characters, or eight windows across the page."""
    wet_floor_recall: float = 0.99
    """The pre-filter's floor lets through at least this share of the training pages the round's model keeps
    (scored out of host); those under it are never fetched."""
    bpe_vocab_size: int = 16_000
    negatives_per_positive: float = 1.0
    max_seed_pages: int = 500_000
    heldout_fraction: float = 0.1
    related_fraction: float = 0.10
    finalize_partitions: int = 8
    """Domain-hash partitions of a round's finalize and discovery (tasks on the workers, a loop in-process); a round
    records it."""
    growth_stop: float = 0.02
    processes: int = 0
    """In-process parallelism for the embedded default; 0 means one process per core."""

    # distributed (workers/): Celery over Redis
    broker_visibility_timeout: int = 3600
    """Seconds before Redis hands an unacknowledged task to another worker (a host lost, not just a process).

    Must exceed the longest task (a 1 GB WARC, or training), or a slow task runs twice (harmless, wasteful)."""
    task_time_limit: int = 4 * 3600
    """Hard limit per task in seconds; the soft limit (which fails the task cleanly) is 60 s earlier."""
    task_max_retries: int = 5
    """Retries of a WARC task after a retryable error (network 5xx, timeouts, throttling), with backoff."""
    cancel_check_seconds: float = 2.0
    """A running WARC task looks at its round's status this often and stops if it was cancelled."""
    remote_reads_per_s: float = 0.0
    """Shared limit on remote read requests per source host across all workers (a Redis token bucket); 0: off."""
    remote_read_burst: int = 20
    ratelimit_url: str = ""
    """Redis URL of the token bucket; by default the broker's."""

    # code signals, synthetic seeds, thresholds, page items (core/text/features.py, synthetic.py, thresholds.py)
    code_signal_repeat: int = 8
    """Code-structure tokens (core/text/features.py) read before each page's BPE tokens, repeated this many times so
    fastText weighs them; 0 trains models without them (issue 14)."""
    synthetic_share: float = 0.0
    """Synthetic positives and as many synthetic hard negatives per real positive (core/model/synthetic.py); 0: off."""
    threshold_target_precision: float = 0.95
    """> 0: a round started without a threshold or budget keeps the lowest threshold whose precision on its held-out
    seeds has a Wilson lower bound of at least this; where none has, it keeps `threshold` (0: always `threshold`).
    Either way a round reports its threshold's precision and recall there, with counts."""
    bpe_crawl_sample: int = 10_000
    """Pages of the crawl's own text (a seeded sample of round 1's page cache, every script in it) the tokenizer is
    trained on beside the seeds; 0: the seeds alone."""
    second_stage: bool = False
    """Rounds score with a second stage (a small model over the code signals, the line shapes and the fastText logit,
    trained on the round's labelled pages, applied above a low floor: core/model/second_stage.py); off by default
    because it did not measure better out of fold on the dev crawl (bench/second_stage.py)."""
    page_items_max: int = 50
    """Single-page queue items per round: the most uncertain page of each domain too small for the domain rule,
    plus a small audit sample (labelling/page_items.py), labelled with one key on the Label page; 0: none."""

    # expansion through the crawl's URL index (webrecall/core/pipeline/expand.py, webrecall/core/crawl/ccindex.py)
    expand_backend: Literal["columnar", "cdx", "off"] = "columnar"
    """How a round finds every page of its labelled patterns across the whole crawl: the columnar index (Parquet
    by byte range), the CDX server API, or not at all."""
    index_base_url: str = ""
    """Where the columnar index lives (`crawl-data/<id>/cc-index-table.paths.gz` below it); default: the round's
    source base URL, as on Common Crawl (`https://data.commoncrawl.org/`)."""
    cdx_base_url: str = "https://index.commoncrawl.org/"
    """The CDX server (`<base>/<crawl>-index?url=...`) for the `cdx` backend."""
    expand_max_per_pattern: int = 5_000
    """At most this many pages of one pattern join a round's seeds (a URL-hash sample), so one huge site cannot
    swamp them; the seed cap (`max_seed_pages`) still applies on top."""

    ft: FastTextSettings = Field(default_factory=FastTextSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    decontam: DecontamSettings = Field(default_factory=DecontamSettings)
    max_request_bytes: int = 32 * 1024 * 1024
    """The API answers 413 to a request body over this size (a labels import of 10,000 rows is ~1 MB)."""

    @field_validator("allowed_base_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production" and self.api_token == DEV_TOKEN:
            raise ValueError("WEBRECALL_API_TOKEN must be set to a secret in production")
        return self

    @cached_property
    def db_url(self) -> str:
        """The database URL; by default a SQLite file under a local data dir."""
        if self.database_url:
            return self.database_url
        if "://" in self.data_dir:
            raise ValueError("set WEBRECALL_DATABASE_URL when WEBRECALL_DATA_DIR is a remote URL")
        from pathlib import Path

        path = Path(self.data_dir).expanduser().resolve() / "webrecall.db"
        return f"sqlite:///{path}"
