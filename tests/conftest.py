"""Fixtures shared by all tests: the corpus beside the repo, served over real HTTP on loopback.

`corpus_server` is a base URL like Common Crawl's; `corpus_httpd` is the same server with its request log,
for tests that assert which reads happened; `flaky_server` starts servers that fail on a scripted share of
requests (503 + Retry-After, or a connection dropped mid-body).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from io import BytesIO
from pathlib import Path
from typing import Literal

import pytest

pytest_plugins = ["tests.services"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
CACHE_ID = "resiliparse-" + version("resiliparse")
"""The key of the page cache the default extractor makes (its name and version, `Extractor.id`)."""

Fault = Literal["503", "drop"] | None


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    status: int
    fault: Fault = None


@dataclass(slots=True)
class LoopbackServer:
    """A running server: `url` ends with '/', `hits` lists every request in arrival order."""

    url: str
    httpd: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)

    def clear(self) -> None:
        self.hits.clear()

    def paths(self, suffix: str = "") -> list[Hit]:
        return [h for h in self.hits if h.path.endswith(suffix)]


class RangeHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus `Range: bytes=a-b` / `bytes=a-` (206 + Content-Range), quiet."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        # logged when the status goes out, so a test sees it even if the client hangs up mid-body
        self.server.record(Hit(self.command, self.path, self.headers.get("Range"), code, self._fault))
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._fault = fault = self.server.next_fault()
        if fault == "503":
            self.send_response(503)
            self.send_header("Retry-After", self.server.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.send_head()
        if body is None:
            return
        with body:
            if fault == "drop":  # headers and a part of the body, then the connection goes away
                self.wfile.write(body.read(self.server.drop_after))
                self.wfile.flush()
                self.close_connection = True
            else:
                self.copyfile(body, self.wfile)

    def do_HEAD(self) -> None:
        self._fault = None
        super().do_HEAD()

    def send_head(self):  # type: ignore[no-untyped-def]
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start = int(match[1])
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size or start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", self.date_time_string(int(os.path.getmtime(path))))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return BytesIO(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory: Path, faults: Sequence[Fault], cycle: bool, retry_after: str, drop_after: int):
        super().__init__(("127.0.0.1", 0), partial(RangeHandler, directory=str(directory)))
        self._faults = itertools.cycle(faults) if cycle and faults else iter(faults)
        self._lock = threading.Lock()
        self.retry_after, self.drop_after = retry_after, drop_after
        self.hits: list[Hit] = []

    def next_fault(self) -> Fault:
        with self._lock:
            return next(self._faults, None)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-body (a test that reads 4 bytes) is not an error here

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)


def serve(
    directory: Path = CORPUS,
    *,
    faults: Sequence[Fault] = (),
    cycle: bool = False,
    retry_after: str = "0",
    drop_after: int = 64 * 1024,
) -> LoopbackServer:
    """Serve `directory` on 127.0.0.1; request i gets `faults[i]` (None: served normally), then none.

    `cycle=True` repeats the script forever, e.g. `faults=(None, "drop")` drops every 2nd request.
    """
    httpd = _Server(directory, faults, cycle, retry_after, drop_after)
    threading.Thread(target=httpd.serve_forever, name="loopback-http", daemon=True).start()
    host, port = httpd.server_address[:2]
    return LoopbackServer(url=f"http://{host!s}:{port}/", httpd=httpd, hits=httpd.hits)


def _stop(server: LoopbackServer) -> None:
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="session")
def corpus_httpd() -> Iterator[LoopbackServer]:
    """The corpus over HTTP with Range support, one server per test session; `.hits` logs requests."""
    server = serve(CORPUS)
    yield server
    _stop(server)


@pytest.fixture(scope="session")
def corpus_server(corpus_httpd: LoopbackServer) -> str:
    """Base URL of the served corpus: `resolve_crawl("CC-MAIN-DEV", corpus_server)` works as on Common Crawl."""
    return corpus_httpd.url


WET_FILES = 2
"""CC-MAIN-DEV's WARC files that get WET files in `wet_crawl` (writing them costs ~10 ms a page)."""


@pytest.fixture(scope="session")
def wet_crawl(tmp_path_factory) -> Path:
    """CC-MAIN-DEV as Common Crawl publishes a crawl: its WARC files (linked, read only), the WET files of the first
    `WET_FILES` with their `wet.paths.gz`, and the columnar URL index, in one folder a plain server can serve."""
    from webrecall.core.crawl.ccindex import build_index
    from webrecall.core.crawl.wetgen import build_wet

    root = tmp_path_factory.mktemp("wet-crawl")
    build_index(CORPUS, root, crawls=["CC-MAIN-DEV"], row_group_rows=200, languages=False)
    build_wet(CORPUS, root, crawls=["CC-MAIN-DEV"], limit=WET_FILES)
    crawl = root / "crawl-data" / "CC-MAIN-DEV"
    (crawl / "warc.paths.gz").symlink_to(CORPUS / "crawl-data" / "CC-MAIN-DEV" / "warc.paths.gz")
    for seg in (CORPUS / "crawl-data" / "CC-MAIN-DEV" / "segments").iterdir():
        (crawl / "segments" / seg.name).mkdir(parents=True, exist_ok=True)
        (crawl / "segments" / seg.name / "warc").symlink_to(seg / "warc")
    return root


@pytest.fixture(scope="session")
def wet_httpd(wet_crawl: Path) -> Iterator[LoopbackServer]:
    """`wet_crawl` over HTTP with Range support; `.hits` logs every request (which ranges a round read)."""
    server = serve(wet_crawl)
    yield server
    _stop(server)


@pytest.fixture
def flaky_server() -> Iterator[Callable[..., LoopbackServer]]:
    """Factory: `flaky_server(faults=("503", "drop"), directory=CORPUS, cycle=False, retry_after="0",
    drop_after=65536)` -> a LoopbackServer; all are stopped after the test."""
    started: list[LoopbackServer] = []

    def start(**kwargs: object) -> LoopbackServer:
        server = serve(**kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        _stop(server)


@pytest.fixture(scope="session")
def dev_eval_labels(tmp_path_factory) -> str:
    """CC-MAIN-DEV's labels of half its hosts (the first half of the plain host hash) as a round's `eval_labels`:
    its pages are never random negatives, so the other half's unlabelled-to-the-round pages give them."""
    import json

    from webrecall.core.labelfile import host_hash

    rows = [line for line in (CORPUS / "labels" / "CC-MAIN-DEV.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip() and host_hash(json.loads(line)["url"]) < 0.5]  # fmt: skip
    path = tmp_path_factory.mktemp("labels") / "CC-MAIN-DEV-eval.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)
