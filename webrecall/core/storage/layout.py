"""The storage layout of the data dir: every file a round reads or writes, its path and its Parquet schema.

One place for each layout fact, so a reader (read-back, finalize, proposals, export, dedup, expansion) and the
writer of a file agree by importing the same name. Paths are relative to the data dir (`storage.store.Store`):

  cache/<warc_id>.<extractor>.parquet      fast text + metadata of every HTML page of a WARC (reused by rounds), made
                                           by one extractor (name-version, `text.extract.Extractor.id`)
  cache/<warc_id>.<extractor>.tok-<input>.parquet  its token lines for one scorer input (a later round scores only)
  cache/<warc_id>.wet.parquet              a WET-first round's: the WET text of every page of the WARC's WET file
  cache/<warc_id>.wet.tok-<input>.parquet  its token lines for one pre-filter input
  cache/<warc_id>.<extractor>.fetched/<part>.parquet  pages of that WARC fetched by range and extracted (training
                                           pages, candidates), in the page cache's schema; each page fetched once
  rounds/<n>/index/<warc_id>.parquet       per-round page index: every HTML page with its score and `kept`
  rounds/<n>/partials/<warc_id>.domains.parquet  the WARC's per-domain aggregates (what finalize merges)
  rounds/<n>/partials/<warc_id>.kept.parquet     the WARC's kept pages: url key, score, text length
  rounds/<n>/pages/<warc_id>.parquet       per-round recalled pages with the kept text (the cached one by default)
  rounds/<n>/band/<warc_id>.parquet        trafilatura texts of cascade-band pages the re-score did not keep
  rounds/<n>/sample/<warc_id>.parquet      a WET round's training pages of a WARC file (main and WET text)
  rounds/<n>/seeds.parquet                 the round's training set
  rounds/<n>/sigs/<warc_id>.parquet        dedup signatures of the recalled pages (webrecall.core.pipeline.dedup)
  rounds/<n>/dedup/bucket-<p>.parquet      LSH buckets of one partition; dedup/removed.parquet the removed copies
  rounds/<n>/expand/plan.parquet           labelled-pattern expansion plan; expand/<warc_id>.parquet its pages
  models/<version>/                        model.bin, tokenizer.json, meta.json
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from webrecall.core.storage.store import warc_id

# -- page cache (index pass) -------------------------------------------------------------------------------------

CACHE_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("path", pa.string()),
        ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64()), ("title", pa.string()),
        ("lang", pa.string()), ("text", pa.string()), ("text_len", pa.int32()),
        ("code_blocks", pa.int32()), ("code_verbatim", pa.int32()), ("code_present", pa.int32()),
        ("signals", pa.string()),
    ]
)  # fmt: skip
"""`code_*`: the page's indented `<pre>` blocks and how many the text keeps verbatim / at all (text.fidelity)."""
CACHE_COLUMNS = ["url", "domain", "site", "path", "warc", "offset", "length", "title", "lang", "text", "text_len"]
CODE_COLUMNS = ["code_blocks", "code_verbatim", "code_present"]
"""Absent from a page cache written before they existed: counted as 0 there (and `signals` as none)."""
TOKENS_SCHEMA = pa.schema([("offset", pa.int64()), ("line", pa.string())])
SHAPED_TOKENS_SCHEMA = pa.schema([*TOKENS_SCHEMA, ("shape", pa.list_(pa.float32()))])
"""A page cache's token lines with each page's code-structure numbers (`model.prior.FEATURES`): made once per loop
with the token lines, as costly to compute as the BPE (the line shapes of 16,000 characters), read by every later
round's prior and second stage. A token cache written before them lacks `shape`: it is computed again."""


def cache_path(location: str, extractor_id: str) -> str:
    """The page cache of a WARC as one extractor (name and version) made it: a data dir reused with another extractor
    or another version of it does not find the old text (a cache written before the key had the extractor,
    `cache/<warc_id>.parquet`, is not read either: the WARC is indexed again)."""
    return f"cache/{warc_id(location)}.{extractor_id}.parquet"


def token_cache_path(location: str, extractor_id: str, input_id: str) -> str:
    """The token lines of that page cache for one scorer input (`Scorer.input_id`: tokenizer and signals spec)."""
    return f"cache/{warc_id(location)}.{extractor_id}.tok-{input_id}.parquet"


WET_CACHE_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("path", pa.string()),
        ("offset", pa.int64()), ("date", pa.string()), ("lang", pa.string()), ("text", pa.string()),
        ("text_len", pa.int32()),
    ]
)  # fmt: skip
"""`offset`: the record's in the WET file (the WET text's key, as a page cache's is its WARC offset); `date`: the
capture time, which with the URL finds the page's record in the crawl's URL index."""


def wet_cache_path(location: str) -> str:
    """The WET text of the pages of a WARC file (read from the WET file Common Crawl made of it)."""
    return f"cache/{warc_id(location)}.wet.parquet"


def wet_token_path(location: str, input_id: str) -> str:
    return f"cache/{warc_id(location)}.wet.tok-{input_id}.parquet"


def fetched_dir(location: str, extractor_id: str) -> str:
    """Pages of a WARC file's WET file fetched by range and extracted by one extractor, one part per fetch."""
    return f"cache/{warc_id(location)}.{extractor_id}.fetched"


SAMPLE_SCHEMA = pa.schema([*CACHE_SCHEMA, ("wet_text", pa.string())])
"""A WET round's training pages of one WARC file: page-cache rows (main text, signals) and each page's WET text."""


def sample_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/sample/{warc_id(location)}.parquet"


# -- a round's recall pass ---------------------------------------------------------------------------------------

INDEX_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("path", pa.string()),
        ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64()), ("score", pa.float32()),
        ("lang", pa.string()), ("text_len", pa.int32()), ("kept", pa.bool_()), ("prior", pa.float32()),
    ]
)  # fmt: skip
"""`prior`: the page's model-free code-structure prior (`model.prior`), which the page-item queue compares with its
score; null where it is not known (a WET round's page that was never fetched; an index written before it existed)."""
PAGES_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("title", pa.string()),
        ("text", pa.string()), ("score", pa.float32()), ("lang", pa.string()), ("warc", pa.string()),
        ("offset", pa.int64()), ("length", pa.int64()), ("round", pa.int32()), ("model", pa.string()),
        ("text_extractor", pa.string()),
    ]
)  # fmt: skip
"""`text_extractor`: lineage, the extractor that made `text` (the cached text's, or the round's own)."""
BAND_SCHEMA = pa.schema([("offset", pa.int64()), ("text", pa.string()), ("text_extractor", pa.string())])

SCORE_BINS = 1000
"""Resolution of the per-domain score histograms (`DOMAINS_SCHEMA`): the domain quantiles finalize derives from
them are within half a bin (0.0005) of the exact (linearly interpolated) quantiles."""
DOMAINS_SCHEMA = pa.schema(
    [
        ("domain", pa.string()), ("site", pa.string()), ("bin", pa.int16()), ("pages", pa.int64()),
        ("recalled", pa.int64()), ("chars", pa.int64()), ("recalled_chars", pa.int64()), ("score_sum", pa.float64()),
    ]
)  # fmt: skip
"""One row per (domain, site, score bin of `SCORE_BINS`) of a WARC's index: its pages, the recalled ones at the
task's threshold (a top-K round's floor), their characters and the sum of their scores. The file's metadata holds
the WARC's language counts (`languages`, JSON) and the task's threshold."""
KEPT_SCHEMA = pa.schema(
    [
        ("domain", pa.string()), ("site", pa.string()), ("url_hash", pa.uint64()), ("score", pa.float32()),
        ("text_len", pa.int32()),
    ]
)  # fmt: skip
"""The pages of a WARC's index kept at the task's threshold: enough for a top-K cut and the growth of a round
without reading the index. `url_hash`: `url_hash` of the URL."""


def index_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/index/{warc_id(location)}.parquet"


def domains_partial_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/partials/{warc_id(location)}.domains.parquet"


def kept_partial_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/partials/{warc_id(location)}.kept.parquet"


def pages_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/pages/{warc_id(location)}.parquet"


def band_path(round_no: int, location: str) -> str:
    """Trafilatura texts of the cascade band's pages that the re-score did not keep (later rounds reuse them)."""
    return f"rounds/{round_no}/band/{warc_id(location)}.parquet"


def url_hash(url: str) -> int:
    """64-bit hash of a URL as written (the kept partials hold these, not strings: 8 bytes a page)."""
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


# -- training set --------------------------------------------------------------------------------------------------

SEEDS_SCHEMA = pa.schema([("url", pa.string()), ("text", pa.string()), ("label", pa.bool_()),
                          ("source", pa.string()), ("sha256", pa.string())])  # fmt: skip


def seeds_path(round_no: int) -> str:
    return f"rounds/{round_no}/seeds.parquet"


# -- dedup stage (pipeline.dedup) ------------------------------------------------------------------------------------

REDACTIONS = pa.map_(pa.string(), pa.int32())
"""Values replaced by a placeholder, by kind (webrecall.core.text.redact)."""
REDACTED_SPANS = pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("kind", pa.string())]))
"""Where those values stand in the text (character offsets), so an export replaces them without a scan."""
SIGS_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("round", pa.int32()), ("warc", pa.string()), ("offset", pa.int64()),
        ("url", pa.string()), ("crawl", pa.string()), ("score", pa.float32()), ("url_key", pa.uint64()),
        ("text_key", pa.uint64()), ("bands", pa.list_(pa.uint64())), ("sig", pa.list_(pa.uint32())),
        ("contaminated", pa.string()), ("redactions", REDACTIONS), ("redacted", REDACTED_SPANS),
    ]
)  # fmt: skip
BUCKET_SCHEMA = pa.schema([("kind", pa.string()), ("bucket", pa.uint64()), ("band", pa.int16()), ("id", pa.string())])
REMOVED_SCHEMA = pa.schema(
    [
        ("id", pa.string()), ("round", pa.int32()), ("warc", pa.string()), ("offset", pa.int64()),
        ("url", pa.string()), ("reason", pa.string()), ("dedup_of", pa.string()), ("jaccard", pa.float32()),
    ]
)  # fmt: skip


def sigs_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/sigs/{warc_id(location)}.parquet"


def bucket_path(round_no: int, partition: int) -> str:
    return f"rounds/{round_no}/dedup/bucket-{partition:04d}.parquet"


def removed_path(round_no: int) -> str:
    return f"rounds/{round_no}/dedup/removed.parquet"


# -- labelled-pattern expansion (pipeline.expand) --------------------------------------------------------------------

PLAN_SCHEMA = pa.schema([("url", pa.string()), ("pattern", pa.string()), ("label", pa.string()),
                         ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64())])  # fmt: skip
EXPANDED_SCHEMA = pa.schema(
    [
        ("url", pa.string()), ("domain", pa.string()), ("site", pa.string()), ("title", pa.string()),
        ("text", pa.string()), ("lang", pa.string()), ("label", pa.string()), ("pattern", pa.string()),
        ("source", pa.string()), ("warc", pa.string()), ("offset", pa.int64()), ("length", pa.int64()),
        ("round", pa.int32()),
    ]
)  # fmt: skip


def expand_plan_path(round_no: int) -> str:
    return f"rounds/{round_no}/expand/plan.parquet"


def expand_path(round_no: int, location: str) -> str:
    return f"rounds/{round_no}/expand/{warc_id(location)}.parquet"


def expand_sigs_path(round_no: int, location: str) -> str:
    """The dedup signatures of a WARC file's expanded positives (beside the recall tasks' `rounds/<n>/sigs/`)."""
    return f"rounds/{round_no}/expand/sigs/{warc_id(location)}.parquet"
