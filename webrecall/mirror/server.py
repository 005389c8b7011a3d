"""Serve a local folder as a Common-Crawl-shaped HTTP source (byte ranges included), for offline runs.

With `index_dir` (what `webrecall index build` wrote) the mirror serves an overlay: a path is looked up in the
corpus folder, then in the index folder, so the columnar index appears under the same URLs as on Common Crawl
(`cc-index/table/...`, `crawl-data/<id>/cc-index-table.paths.gz`) while the corpus stays read-only. It also
answers the CDX server API of its crawls (`/<crawl>-index?url=...&output=json`, see `webrecall.core.crawl.cdx`).
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CDX = re.compile(r"^/([A-Za-z0-9-]+)-index$")


class RangeHandler(SimpleHTTPRequestHandler):
    """The stdlib file handler plus single `Range: bytes=a-b` requests (206), which range reads rely on."""

    def __init__(self, *args, overlay: str | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.overlay = overlay
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        if self.overlay and not os.path.exists(local):
            rel = os.path.relpath(local, self.directory)
            candidate = os.path.join(self.overlay, rel)
            if not rel.startswith("..") and os.path.exists(candidate):
                return candidate
        return local

    def do_GET(self) -> None:
        match = _CDX.match(urlsplit(self.path).path)
        if match:
            from webrecall.core.crawl.cdx import answer

            status, ctype, body = answer(match.group(1), urlsplit(self.path).query, roots=self._roots())
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self._count("cdx", len(body))
            return
        super().do_GET()

    def _roots(self) -> list[str]:
        return [str(self.directory)] + ([self.overlay] if self.overlay else [])

    def _count(self, path: str, n: int) -> None:
        served: Counter[str] | None = getattr(self.server, "bytes_served", None)
        if served is not None:
            with self.server.lock:  # type: ignore[attr-defined]
                served[path] += n

    def send_head(self):  # type: ignore[no-untyped-def]
        match = _RANGE.match(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, last = match.groups()
        if first == "":
            start, end = max(size - int(last or 0), 0), size - 1
        else:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        fh = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller
        fh.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return fh

    def copyfile(self, source, outputfile):  # type: ignore[no-untyped-def]
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            remaining = float("inf")  # a whole file, streamed the same way
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            try:
                outputfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client has what it wanted (readahead readers)
                break
            remaining -= len(chunk)
            self._count(urlsplit(self.path).path, len(chunk))
        self._remaining = None


def serve(
    directory: str, host: str = "127.0.0.1", port: int = 0, *, index_dir: str | None = None
) -> tuple[ThreadingHTTPServer, str]:
    """Start a mirror in a daemon thread; returns the server and its base URL (ending in '/').

    `server.bytes_served` counts the body bytes sent per request path (`cdx` for the CDX API), so a caller can
    check what a client really read."""
    handler = partial(RangeHandler, directory=directory, overlay=os.path.abspath(index_dir) if index_dir else None)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.bytes_served = Counter()  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="webrecall-mirror", daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"
