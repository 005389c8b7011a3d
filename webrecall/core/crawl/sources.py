"""Where WARC files come from: a crawl id resolves through its `warc.paths.gz`; files are streamed, never
downloaded first, over HTTP(S) (requests, with retries and mid-body resume) or any fsspec URL / local path.

Errors: 404/410 or a missing file -> `NotFoundError`, a `FatalError` (a listed file that is gone will not
come back, and it usually means a wrong base URL); other 4xx -> `FatalError`; connection errors, timeouts, 429
and 5xx are retried and, once `retries` is spent, raise `RetryableError` so the task is retried later; a byte
range that is not (fully) in the file -> `SkippableError` (the page index row is broken, not the source).
Redirects are followed within a host, and to another host only if it has public addresses only (no SSRF by redirect).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import logging
import math
import os
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from webrecall.core.errors import FatalError, NotFoundError, RetryableError, SkippableError

log = logging.getLogger(__name__)

COLLINFO_URL = "https://index.commoncrawl.org/collinfo.json"
USER_AGENT = "webrecall/0.1"
CRAWL_ID = re.compile(r"CC-MAIN-[A-Za-z0-9-]+")
MAX_RETRY_AFTER = 300.0
MAX_REDIRECTS = 5
_BACKOFF = wait_random_exponential(multiplier=0.5, max=30)
_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
T = TypeVar("T")
_before_request: Callable[[str], None] | None = None


def set_rate_limiter(hook: Callable[[str], None] | None) -> None:
    """Install a per-process hook called with the URL before every HTTP request (e.g. a shared token bucket).

    A process-wide hook rather than an argument: every read path (stream, resume, byte range) goes through
    `_request`, and a worker installs it once at start (see `webrecall.core.crawl.ratelimit.TokenBucket`).
    """
    global _before_request
    _before_request = hook


class _Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's Retry-After in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def resolve_crawl(crawl_id: str, base_url: str, *, timeout: float = 60, retries: int = 5) -> list[str]:
    """The absolute locations of a crawl's WARC files, in the order of its `warc.paths.gz`."""
    if not CRAWL_ID.fullmatch(crawl_id):
        raise FatalError(f"invalid crawl id {crawl_id!r}: expected e.g. CC-MAIN-2024-22")
    url = _join(base_url, f"crawl-data/{crawl_id}/warc.paths.gz")
    try:
        raw = _read_all(url, timeout=timeout, retries=retries)
    except NotFoundError:
        raise FatalError(f"unknown crawl id {crawl_id!r}: {url} not found") from None
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FatalError(f"{url} is not a gzipped list of paths: {exc}") from exc
    paths = [_join(base_url, line.strip()) for line in text.splitlines() if line.strip()]
    if not paths:
        raise FatalError(f"{url} lists no WARC files")
    return paths


def latest_crawl(collinfo_url: str = COLLINFO_URL, *, timeout: float = 60, retries: int = 5) -> str:
    """The newest crawl id: the first entry of Common Crawl's `collinfo.json`, which lists newest first."""
    try:
        entries = json.loads(_read_all(collinfo_url, timeout=timeout, retries=retries))
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


@contextmanager
def open_stream(location: str, *, timeout: float = 60, retries: int = 5) -> Iterator[BinaryIO]:
    """A binary stream of the stored bytes (a .gz stays compressed); the caller's reader handles gzip."""
    if _is_http(location):
        with io.BufferedReader(_HTTPReader(location, timeout=timeout, retries=retries), 1 << 16) as stream:
            yield stream
        return
    with _fsspec_open(location) as f:
        yield f


def read_range(location: str, offset: int, length: int, *, timeout: float = 60, retries: int = 5) -> bytes:
    """Exactly `length` bytes at `offset` (one record found through the page index)."""
    if offset < 0 or length < 1:
        raise ValueError(f"need offset >= 0 and length >= 1, got offset={offset} length={length}")
    if _is_http(location):
        data = _retry(location, retries, lambda: _http_range(location, offset, length, timeout))
    else:
        with _fsspec_open(location) as f:
            f.seek(offset)
            data = f.read(length)
    if len(data) != length:
        raise SkippableError(f"{location}: bytes {offset}-{offset + length - 1} are past the end of the file")
    return data


class _HTTPReader(io.RawIOBase):
    """One continuous body over as many requests as needed: a drop resumes with `Range: bytes=<pos>-`.

    Each read may fail `retries` times in a row; any progress starts the count (and backoff) afresh.
    """

    def __init__(self, url: str, *, timeout: float, retries: int) -> None:
        self.url, self._timeout, self._retries = url, timeout, retries
        self._pos = 0
        self._size: int | None = None
        self._validator: str | None = None
        self._resp: requests.Response | None = None
        _retry(url, retries, self._connect)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buf) or (self._size is not None and self._pos >= self._size):
            return 0
        data = _retry(self.url, self._retries, lambda: self._read(len(buf)))
        memoryview(buf).cast("B")[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._drop()
        super().close()

    def _read(self, n: int) -> bytes:
        if self._resp is None:
            self._connect()
        assert self._resp is not None
        try:
            data: bytes = self._resp.raw.read(n, decode_content=False)
        except _READ_ERRORS as exc:
            self._drop()
            raise _Transient(f"connection lost at byte {self._pos}: {exc!r}") from exc
        if not data and self._size is not None and self._pos < self._size:
            self._drop()
            raise _Transient(f"connection closed at byte {self._pos} of {self._size}")
        return data

    def _connect(self) -> None:
        headers = {}
        if self._pos:
            headers["Range"] = f"bytes={self._pos}-"
            if self._validator:
                headers["If-Range"] = self._validator
        resp = _request(self.url, headers, self._timeout)
        if self._pos and not resp.headers.get("Content-Range", "").startswith(f"bytes {self._pos}-"):
            resp.close()
            raise RetryableError(f"{self.url}: cannot resume at byte {self._pos} (no Range, or it changed)")
        if not self._pos:
            length = resp.headers.get("Content-Length")
            self._size = int(length) if length and length.isdigit() else None
            self._validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        self._resp = resp

    def _drop(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None


def check_ranges(locations: list[str], *, timeout: float = 60, retries: int = 5, tries_per_host: int = 3) -> None:
    """One small ranged request (`bytes=0-0`) per source host, before a round does any work: the recall pass reads
    kept pages back by byte range, so a server that ignores `Range` (e.g. `python3 -m http.server`) would otherwise
    fail the round after its index pass and training. FatalError with the reason; a host whose first files are
    missing (404) is left to the WARC tasks, which skip missing files."""
    from urllib.parse import urlsplit

    by_host: dict[str, list[str]] = {}
    for loc in locations:
        if _is_http(loc):
            parts = urlsplit(loc)
            by_host.setdefault(f"{parts.scheme.lower()}://{parts.netloc.lower()}", []).append(loc)
    for host, urls in by_host.items():
        for url in urls[:tries_per_host]:
            try:
                status, content_range = _retry(url, retries, functools.partial(_probe_range, url, timeout))
            except NotFoundError:
                continue
            if status != 206 or not content_range.startswith("bytes 0-0/"):
                raise FatalError(
                    f"{host} ignores HTTP Range requests (asked {url} for bytes 0-0, got HTTP {status} "
                    f"{'with Content-Range ' + repr(content_range) if content_range else 'without Content-Range'}): "
                    "the recall pass reads pages back by byte range. Serve the crawl with a server that supports "
                    "ranges (e.g. `webrecall mirror DIR`)"
                )
            break


def _probe_range(url: str, timeout: float) -> tuple[int, str]:
    with _request(url, {"Range": "bytes=0-0"}, timeout) as resp:
        return resp.status_code, resp.headers.get("Content-Range", "")


def _http_range(url: str, offset: int, length: int, timeout: float) -> bytes:
    end = offset + length - 1
    with _request(url, {"Range": f"bytes={offset}-{end}"}, timeout) as resp:
        if resp.status_code != 206:
            raise FatalError(f"{url}: the server ignored the Range header (HTTP {resp.status_code})")
        try:
            return bytes(resp.raw.read(decode_content=False))
        except _READ_ERRORS as exc:
            raise _Transient(f"connection lost reading bytes {offset}-{end}: {exc!r}") from exc


def _request(url: str, headers: dict[str, str], timeout: float) -> requests.Response:
    """One streaming GET; raises `_Transient` for what a retry may fix, `FatalError` for what it cannot."""
    if _before_request is not None:
        _before_request(url)
    target = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            resp = _session().get(target, headers=headers, timeout=timeout, stream=True, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"{exc!r}") from exc
        except requests.RequestException as exc:
            raise FatalError(f"{url}: {exc}") from exc
        if not resp.is_redirect:
            break
        resp.close()
        target = _redirect_target(target, resp.headers["Location"])
    else:
        raise FatalError(f"{url}: more than {MAX_REDIRECTS} redirects")
    if resp.status_code < 400:
        return resp
    resp.close()
    status = f"HTTP {resp.status_code} {resp.reason}"
    if resp.status_code == 429 or resp.status_code >= 500:
        retry_after = resp.headers.get("Retry-After", "")
        raise _Transient(status, float(retry_after) if retry_after.isdigit() else None)
    if resp.status_code in (404, 410):
        raise NotFoundError(f"{url} not found ({status})")
    if resp.status_code == 416:
        raise SkippableError(f"{url}: {headers.get('Range')} is past the end of the file ({status})")
    raise FatalError(f"{url}: {status}")


def _redirect_target(url: str, location: str) -> str:
    """Where a redirect from `url` may go: the same host (any path, or an http -> https upgrade), or another host
    only if every address it resolves to is public. A source the operator allowed must not bounce a worker to
    loopback, link-local (cloud metadata) or private addresses (SSRF by redirect); FatalError otherwise."""
    import ipaddress
    import socket
    from urllib.parse import urljoin, urlsplit

    target = urljoin(url, location)
    src, dst = urlsplit(url), urlsplit(target)
    if dst.scheme not in ("http", "https") or not dst.hostname:
        raise FatalError(f"{url}: redirect to {target!r} refused (not an http(s) URL)")
    if (dst.hostname or "").lower() == (src.hostname or "").lower() and (
        dst.port == src.port or (src.scheme, dst.scheme) == ("http", "https")
    ):
        return target
    try:
        infos = socket.getaddrinfo(dst.hostname, dst.port or (443 if dst.scheme == "https" else 80))
    except OSError as exc:
        raise FatalError(f"{url}: redirect to {target!r} refused (cannot resolve {dst.hostname}: {exc})") from exc
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    if not addresses or not all(a.is_global for a in addresses):
        raise FatalError(f"{url}: redirect to {target!r} refused (another host with a non-public address)")
    return target


def _retry(location: str, retries: int, fn: Callable[[], T]) -> T:
    """Call `fn` under the one retry policy: backoff with jitter, or the server's Retry-After."""
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=_wait,
        retry=retry_if_exception_type(_Transient),
        before_sleep=functools.partial(_log_retry, location, retries),
        reraise=True,
    )
    try:
        return retrying(fn)
    except _Transient as exc:
        raise RetryableError(f"{location}: {exc} (gave up after {retries + 1} attempts)") from exc


def _log_retry(location: str, retries: int, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("%s: %s; retry %d of %d in %.1fs", location, exc, state.attempt_number, retries, wait)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER)
    return _BACKOFF(state)


def _session() -> requests.Session:
    return _session_of(os.getpid())  # a forked worker must not share its parent's sockets


@functools.cache
def _session_of(pid: int) -> requests.Session:
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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


def _read_all(location: str, *, timeout: float, retries: int) -> bytes:
    with open_stream(location, timeout=timeout, retries=retries) as f:
        return f.read()


def _is_http(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def check_source(location: str, allowed: list[str]) -> str:
    """`location` if it lies under one of the `allowed` base URLs (an operator's list), else ValueError.

    For locations that come from a request (the API): no other scheme, host or port, no credentials, no
    `..` segments, so a request cannot make the service read local files or internal addresses (SSRF).
    """
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(location.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{location!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https", "s3", "gs") or not parts.hostname:
        raise ValueError(f"source {location!r} is not allowed: only http(s)/s3/gs URLs under a configured base URL")
    if parts.username or parts.password or "\\" in location or any(ord(c) < 33 for c in location):
        raise ValueError(f"source {location!r} is not allowed: credentials, backslashes or control characters")
    if ".." in unquote(unquote(parts.path)).split("/"):
        raise ValueError(f"source {location!r} is not allowed: '..' in the path")
    for base in allowed:
        b = urlsplit(base.strip())
        same_origin = (b.scheme.lower(), (b.hostname or "").lower(), b.port) == (
            parts.scheme.lower(), parts.hostname.lower(), port,
        )  # fmt: skip
        prefix = b.path.rstrip("/") + "/"
        if same_origin and (parts.path.rstrip("/") + "/").startswith(prefix):
            return location.strip()
    raise ValueError(f"source {location!r} is not allowed: not under a configured base URL ({', '.join(allowed)})")
