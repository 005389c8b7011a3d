"""Where the bytes of a WARC (or an index file) come from: streamed, never downloaded first, over HTTP(S)
(`http`: retries and mid-body resume) or any fsspec URL / local path.

A missing file -> `NotFoundError` (a `FatalError`: a listed file that is gone will not come back, and it usually
means a wrong base URL); a byte range that is not (fully) in the file -> `SkippableError`. Which files a round
reads is `listing`; what a source may be is `guard`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from webrecall.core.crawl.http import HTTPReader, get_range, is_http, retry
from webrecall.core.errors import FatalError, NotFoundError, SkippableError, StopCheck
from webrecall.core.settings import Settings


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How a pass reads its source: the cap on a record's decompressed size, the HTTP timeout and retries, and the
    cancel check it asks between batches (None: the pass runs to its end)."""

    max_record_bytes: int = 8 * 1024 * 1024
    timeout: float = 60.0
    retries: int = 5
    should_stop: StopCheck | None = None

    @classmethod
    def of(cls, settings: Settings, should_stop: StopCheck | None = None) -> ReadOptions:
        return cls(settings.max_record_bytes, settings.http_timeout, settings.http_retries, should_stop)


DEFAULT_READ = ReadOptions()


@contextmanager
def open_stream(location: str, *, timeout: float = 60, retries: int = 5) -> Iterator[BinaryIO]:
    """A binary stream of the stored bytes (a .gz stays compressed); the caller's reader handles gzip."""
    if is_http(location):
        with io.BufferedReader(HTTPReader(location, timeout=timeout, retries=retries), 1 << 16) as stream:
            yield stream
        return
    with _fsspec_open(location) as f:
        yield f


def read_range(location: str, offset: int, length: int, *, timeout: float = 60, retries: int = 5) -> bytes:
    """Exactly `length` bytes at `offset` (one record found through the page index)."""
    if offset < 0 or length < 1:
        raise ValueError(f"need offset >= 0 and length >= 1, got offset={offset} length={length}")
    if is_http(location):
        data = retry(location, retries, lambda: get_range(location, offset, length, timeout))
    else:
        with _fsspec_open(location) as f:
            f.seek(offset)
            data = f.read(length)
    if len(data) != length:
        raise SkippableError(f"{location}: bytes {offset}-{offset + length - 1} are past the end of the file")
    return data


def read_all(location: str, *, timeout: float = 60, retries: int = 5) -> bytes:
    """A small file whole (a paths listing, collinfo.json)."""
    with open_stream(location, timeout=timeout, retries=retries) as f:
        return f.read()


@contextmanager
def _fsspec_open(location: str) -> Iterator[BinaryIO]:
    import fsspec

    try:
        f = fsspec.open(location, "rb").open()
    except FileNotFoundError:
        raise NotFoundError(f"{location} not found") from None
    except (ImportError, ValueError) as exc:
        raise FatalError(f"cannot open {location}: {exc}") from exc
    with f:
        yield f


