"""Reading over HTTP(S): one streaming request (redirects checked by `guard`), one retry policy, a body that
resumes after a drop, single byte ranges, and the check that a source host serves ranges at all.

Errors: 404/410 -> `NotFoundError`; other 4xx -> `FatalError`; connection errors, timeouts, 429 and 5xx are
retried (backoff with jitter, or the server's Retry-After) and, once `retries` is spent, raise `RetryableError`
so the task is retried later; 416 -> `SkippableError` (the page index row is broken, not the source).
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from webrecall.core.crawl.guard import redirect_target
from webrecall.core.errors import FatalError, NotFoundError, RetryableError, SkippableError

log = logging.getLogger(__name__)

USER_AGENT = "webrecall/0.1"
MAX_RETRY_AFTER = 300.0
MAX_REDIRECTS = 5
READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)
"""What a read of a response body raises when the connection goes away."""
_BACKOFF = wait_random_exponential(multiplier=0.5, max=30)
T = TypeVar("T")
_before_request: Callable[[str], None] | None = None


def set_rate_limiter(hook: Callable[[str], None] | None) -> None:
    """Install a per-process hook called with the URL before every HTTP request (e.g. a shared token bucket).

    A process-wide hook rather than an argument: every read path (stream, resume, byte range, index files) goes
    through `request`, and a worker installs it once at start (see `webrecall.core.crawl.ratelimit.TokenBucket`).
    """
    global _before_request
    _before_request = hook


def is_http(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


class Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's Retry-After in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def request(url: str, headers: dict[str, str], timeout: float) -> requests.Response:
    """One streaming GET; raises `Transient` for what a retry may fix, `FatalError` for what it cannot."""
    if _before_request is not None:
        _before_request(url)
    target = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            resp = _session().get(target, headers=headers, timeout=timeout, stream=True, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"{exc!r}") from exc
        except requests.RequestException as exc:
            raise FatalError(f"{url}: {exc}") from exc
        if not resp.is_redirect:
            break
        resp.close()
        target = redirect_target(target, resp.headers["Location"])
    else:
        raise FatalError(f"{url}: more than {MAX_REDIRECTS} redirects")
    if resp.status_code < 400:
        return resp
    resp.close()
    status = f"HTTP {resp.status_code} {resp.reason}"
    if resp.status_code == 429 or resp.status_code >= 500:
        retry_after = resp.headers.get("Retry-After", "")
        raise Transient(status, float(retry_after) if retry_after.isdigit() else None)
    if resp.status_code in (404, 410):
        raise NotFoundError(f"{url} not found ({status})")
    if resp.status_code == 416:
        raise SkippableError(f"{url}: {headers.get('Range')} is past the end of the file ({status})")
    raise FatalError(f"{url}: {status}")


def retry(location: str, retries: int, fn: Callable[[], T]) -> T:
    """Call `fn` under the one retry policy: backoff with jitter, or the server's Retry-After."""
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=_wait,
        retry=retry_if_exception_type(Transient),
        before_sleep=functools.partial(_log_retry, location, retries),
        reraise=True,
    )
    try:
        return retrying(fn)
    except Transient as exc:
        raise RetryableError(f"{location}: {exc} (gave up after {retries + 1} attempts)") from exc


def get_range(url: str, offset: int, length: int, timeout: float) -> bytes:
    """Bytes `offset`..`offset + length - 1` in one ranged request (no retry: see `retry`)."""
    end = offset + length - 1
    with request(url, {"Range": f"bytes={offset}-{end}"}, timeout) as resp:
        if resp.status_code != 206:
            raise FatalError(f"{url}: the server ignored the Range header (HTTP {resp.status_code})")
        try:
            return bytes(resp.raw.read(decode_content=False))
        except READ_ERRORS as exc:
            raise Transient(f"connection lost reading bytes {offset}-{end}: {exc!r}") from exc


class HTTPReader(io.RawIOBase):
    """One continuous body over as many requests as needed: a drop resumes with `Range: bytes=<pos>-`.

    Each read may fail `retries` times in a row; any progress starts the count (and backoff) afresh.
    """

    def __init__(self, url: str, *, timeout: float, retries: int) -> None:
        self.url, self._timeout, self._retries = url, timeout, retries
        self._pos = 0
        self._size: int | None = None
        self._validator: str | None = None
        self._resp: requests.Response | None = None
        retry(url, retries, self._connect)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        if not len(buf) or (self._size is not None and self._pos >= self._size):
            return 0
        data = retry(self.url, self._retries, lambda: self._read(len(buf)))
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
        except READ_ERRORS as exc:
            self._drop()
            raise Transient(f"connection lost at byte {self._pos}: {exc!r}") from exc
        if not data and self._size is not None and self._pos < self._size:
            self._drop()
            raise Transient(f"connection closed at byte {self._pos} of {self._size}")
        return data

    def _connect(self) -> None:
        headers = {}
        if self._pos:
            headers["Range"] = f"bytes={self._pos}-"
            if self._validator:
                headers["If-Range"] = self._validator
        resp = request(self.url, headers, self._timeout)
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
    missing (404) or empty is left to the WARC tasks, which skip such files."""
    by_host: dict[str, list[str]] = {}
    for loc in locations:
        if is_http(loc):
            parts = urlsplit(loc)
            by_host.setdefault(f"{parts.scheme.lower()}://{parts.netloc.lower()}", []).append(loc)
    for host, urls in by_host.items():
        for url in urls[:tries_per_host]:
            try:
                status, content_range = retry(url, retries, functools.partial(_probe_range, url, timeout))
            except (NotFoundError, SkippableError):  # missing or empty: its WARC task says so
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
    with request(url, {"Range": "bytes=0-0"}, timeout) as resp:
        return resp.status_code, resp.headers.get("Content-Range", "")


def _log_retry(location: str, retries: int, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("%s: %s; retry %d of %d in %.1fs", location, exc, state.attempt_number, retries, wait)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, Transient) and exc.retry_after is not None:
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
