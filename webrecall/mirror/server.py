"""Serve a local folder as a Common-Crawl-shaped HTTP source (byte ranges included), for offline runs.

A Starlette app run by uvicorn. Files go out as Starlette's `FileResponse`, which serves `Range` requests itself:
one range (206 + Content-Range), a suffix range (`bytes=-N`), several ranges (multipart/byteranges), 416 for a
range past the end, `If-Range` against the ETag / Last-Modified it sends. With `index_dir` (what
`webrecall index build` wrote) the mirror serves an overlay: a path is looked up in the corpus folder, then in the
index folder, so the columnar index and the WET files appear under the same URLs as on Common Crawl
(`cc-index/table/...`, `crawl-data/<id>/cc-index-table.paths.gz`, `crawl-data/<id>/wet.paths.gz`, `…/wet/…`) while
the corpus stays read-only. It also answers the CDX server API of
its crawls (`/<crawl>-index?url=...&output=json`, see `webrecall.core.crawl.cdx`).
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import re
import socket
import threading
import time
from collections import Counter
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CDX = re.compile(r"^/([A-Za-z0-9-]+)-index$")


def create_app(directory: str, *, index_dir: str | None = None) -> Starlette:
    """GET/HEAD of a file under `directory` (then `index_dir`), or a CDX API answer; 404 for anything else."""
    roots = [os.path.abspath(directory)] + ([os.path.abspath(index_dir)] if index_dir else [])

    async def get(request: Request) -> Response:
        match = _CDX.match(request.url.path)
        if match:
            from webrecall.core.crawl.cdx import answer

            status, ctype, body = await run_in_threadpool(answer, match.group(1), request.url.query, roots=roots)
            return Response(body, status_code=status, media_type=ctype)
        local = _lookup(roots, request.url.path)
        if local is None:
            return PlainTextResponse("file not found", status_code=404)
        return FileResponse(local, media_type=_media_type(local))

    return Starlette(routes=[Route("/{path:path}", get, methods=["GET", "HEAD"])])


def _lookup(roots: list[str], url_path: str) -> str | None:
    """The first root's regular file at the URL path. The path is normalised as an absolute one, so `..` cannot
    leave a root; symlinks inside a root are followed (a corpus may link its crawls in)."""
    if "\x00" in url_path:
        return None
    rel = posixpath.normpath("/" + unquote(url_path)).lstrip("/")
    for root in roots:
        candidate = os.path.join(root, *rel.split("/")) if rel else root
        if os.path.isfile(candidate):
            return candidate
    return None


def _media_type(path: str) -> str:
    if path.endswith(".gz"):
        return "application/gzip"  # mimetypes calls .gz an encoding, not a type
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


class _CountBytes:
    """ASGI middleware: the body bytes of files served (and of CDX answers, under `cdx`) per request path, as handed
    to the server."""

    def __init__(self, app: ASGIApp, served: Counter[str], lock: threading.Lock) -> None:
        self.app, self.served, self.lock = app, served, lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        key = "cdx" if _CDX.match(scope["path"]) else scope["path"]
        scope = {**scope, "extensions": {k: v for k, v in scope.get("extensions", {}).items()
                                         if k != "http.response.pathsend"}}  # fmt: skip - every byte passes here

        counted = True

        async def counting(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start":
                counted = key == "cdx" or message["status"] < 400  # a file's bytes, or any CDX answer
            elif message["type"] == "http.response.body" and counted and message.get("body"):
                with self.lock:
                    self.served[key] += len(message["body"])
            await send(message)

        await self.app(scope, receive, counting)


class Mirror:
    """A mirror bound to `host:port` (0: a free port); `url` ends in '/'. `start()` serves from a daemon thread,
    `run()` in the calling thread until SIGINT/SIGTERM. `bytes_served` counts the body bytes sent per request path
    (`cdx` for the CDX API), so a caller can check what a client really read."""

    def __init__(self, directory: str, host: str = "127.0.0.1", port: int = 0, *, index_dir: str | None = None):
        self.bytes_served: Counter[str] = Counter()
        self.lock = threading.Lock()
        app = _CountBytes(create_app(directory, index_dir=index_dir), self.bytes_served, self.lock)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family)
        self.server_address = self._socket.getsockname()[:2]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{self.server_address[1]}/"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self) -> Mirror:
        self._thread = threading.Thread(target=self.run, name="webrecall-mirror", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the mirror at {self.url} did not start")
            time.sleep(0.01)
        return self

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def server_close(self) -> None:
        self._socket.close()


def serve(
    directory: str, host: str = "127.0.0.1", port: int = 0, *, index_dir: str | None = None
) -> tuple[Mirror, str]:
    """Start a mirror in a daemon thread; returns it (`shutdown()`, `server_close()`, `bytes_served`) and its base
    URL (ending in '/')."""
    mirror = Mirror(directory, host, port, index_dir=index_dir).start()
    return mirror, mirror.url
