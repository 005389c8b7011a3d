"""Which files a round reads: a crawl id resolves through its `warc.paths.gz` (or `wet.paths.gz`, the plain text
of the same captures) over HTTP or any fsspec URL / local path, the newest crawl from `collinfo.json`, and a
seeded, nested sample of the paths."""

from __future__ import annotations

import gzip
import json
import math
import random
import re
from typing import Literal

from webrecall.core.crawl.sources import read_all
from webrecall.core.errors import FatalError, NotFoundError

COLLINFO_URL = "https://index.commoncrawl.org/collinfo.json"
CRAWL_ID = re.compile(r"CC-MAIN-[A-Za-z0-9-]+")
Kind = Literal["warc", "wet"]


def resolve_crawl(
    crawl_id: str, base_url: str, *, kind: Kind = "warc", timeout: float = 60, retries: int = 5
) -> list[str]:
    """The absolute locations of a crawl's WARC files (or WET files), in the order of its `<kind>.paths.gz`."""
    if not CRAWL_ID.fullmatch(crawl_id):
        raise FatalError(f"invalid crawl id {crawl_id!r}: expected e.g. CC-MAIN-2024-22")
    if kind not in ("warc", "wet"):
        raise ValueError(f"unknown kind {kind!r}; valid: warc, wet")
    url = _join(base_url, f"crawl-data/{crawl_id}/{kind}.paths.gz")
    try:
        raw = read_all(url, timeout=timeout, retries=retries)
    except NotFoundError:
        raise FatalError(f"unknown crawl id {crawl_id!r}: {url} not found") from None
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FatalError(f"{url} is not a gzipped list of paths: {exc}") from exc
    paths = [_join(base_url, line.strip()) for line in text.splitlines() if line.strip()]
    if not paths:
        raise FatalError(f"{url} lists no {kind.upper()} files")
    return paths


def latest_crawl(collinfo_url: str = COLLINFO_URL, *, timeout: float = 60, retries: int = 5) -> str:
    """The newest crawl id: the first entry of Common Crawl's `collinfo.json`, which lists newest first."""
    try:
        entries = json.loads(read_all(collinfo_url, timeout=timeout, retries=retries))
        crawl_id = entries[0]["id"]
    except (ValueError, LookupError, TypeError) as exc:
        raise FatalError(f"{collinfo_url} is not a Common Crawl collinfo.json: {exc!r}") from exc
    if not isinstance(crawl_id, str) or not CRAWL_ID.fullmatch(crawl_id):
        raise FatalError(f"{collinfo_url} names an unexpected crawl id {crawl_id!r}")
    return crawl_id


def select(paths: list[str], *, limit: int | None = None, sample: float | None = None, seed: int = 0) -> list[str]:
    """A deterministic subset in the original order: a seeded sample of ceil(n * sample) paths, then `limit`.

    With one seed, a smaller sample is a subset of a larger one: growing a sample only adds paths.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    if sample is not None and not 0 < sample <= 1:
        raise ValueError(f"sample must be a fraction in (0, 1], got {sample!r}")
    chosen = list(paths)
    if sample is not None and sample < 1:
        order = list(range(len(paths)))
        random.Random(seed).shuffle(order)
        keep = sorted(order[: math.ceil(len(paths) * sample)])
        chosen = [paths[i] for i in keep]
    return chosen[:limit] if limit is not None else chosen


def wet_location(warc_location: str) -> str:
    """Where Common Crawl puts the WET file of a WARC file: `…/warc/<name>.warc.gz` -> `…/wet/<name>.warc.wet.gz`."""
    head, sep, name = warc_location.rpartition("/warc/")
    if not sep or not name.endswith(".warc.gz"):
        raise ValueError(f"{warc_location} is not laid out as Common Crawl's WARC files (…/warc/<name>.warc.gz)")
    return f"{head}/wet/{name[: -len('.gz')]}.wet.gz"


def warc_location(wet_location: str) -> str:
    """The WARC file a WET file was made from (the inverse of `wet_location`)."""
    head, sep, name = wet_location.rpartition("/wet/")
    if not sep or not name.endswith(".warc.wet.gz"):
        raise ValueError(f"{wet_location} is not laid out as Common Crawl's WET files (…/wet/<name>.warc.wet.gz)")
    return f"{head}/warc/{name[: -len('.wet.gz')]}.gz"


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"
