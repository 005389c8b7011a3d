"""The record the WARC reader yields, and the fixed-name stage counters."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Page:
    """One HTML response of a WARC file as the reader yields it (`crawl.warc`): where its record lies and its decoded
    HTML. The extractor turns it into a row of the page cache (`storage.layout.CACHE_SCHEMA`: text, title, language,
    code counts, signals); from there on the passes work on Arrow batches of those rows, column by column, which is
    what lets a later round score a WARC from its cache without a Python object per page."""

    url: str
    warc_path: str
    offset: int
    length: int
    """The stored (compressed) byte range of the record: what a read-back fetches."""
    html: str = ""
    charset: str = ""
    """The encoding the HTML was decoded with (BOM, HTTP header, <meta> or detection)."""
    record_id: str = ""
    """The record's `WARC-Record-ID`: what a WET record of the page refers to."""
    date: str = ""
    """The record's `WARC-Date` (the capture time), as written."""
    meta: dict[str, object] = field(default_factory=dict)
    """What the reader noticed about the record (e.g. `warc_truncated`)."""


class Stats:
    """Counts with fixed names: `total`, `kept`, `dropped`, `dropped_<reason>`, plus `<stage>_seconds`.

    Every stage counts into one of these; a WARC task saves `as_dict()` with its result.
    """

    __slots__ = ("counts", "seconds")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def incr(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def drop(self, reason: str) -> None:
        self.counts["dropped"] += 1
        self.counts[f"dropped_{reason}"] += 1

    def timer(self, stage: str) -> _Timer:
        return _Timer(self, stage)

    def merge(self, other: Stats | dict[str, float]) -> None:
        data = other.as_dict() if isinstance(other, Stats) else other
        for key, value in data.items():
            if key.endswith("_seconds"):
                stage = key[: -len("_seconds")]
                self.seconds[stage] = self.seconds.get(stage, 0.0) + float(value)
            else:
                self.counts[key] += int(value)

    def errors(self) -> dict[str, int]:
        """The drop reasons only, e.g. {"truncated": 2, "not_html": 40}."""
        return {k[len("dropped_") :]: v for k, v in sorted(self.counts.items()) if k.startswith("dropped_")}

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = dict(sorted(self.counts.items()))
        out.update({f"{k}_seconds": round(v, 4) for k, v in sorted(self.seconds.items())})
        return out

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


class _Timer:
    __slots__ = ("stats", "stage", "start")

    def __init__(self, stats: Stats, stage: str) -> None:
        self.stats, self.stage, self.start = stats, stage, 0.0

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stats.seconds[self.stage] = self.stats.seconds.get(self.stage, 0.0) + time.perf_counter() - self.start
