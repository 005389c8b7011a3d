"""ASGI middleware: a request body size limit, HEAD answered like GET, and 422s that never echo a huge input."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ECHO = 200
"""Characters of a rejected input a 422 repeats back (the rest is cut)."""
MAX_ERRORS = 20
"""Validation errors listed in one 422 (a 10,000-row import with a bad field in every row says so 20 times)."""


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body over {limit} bytes (WEBRECALL_MAX_REQUEST_BYTES)"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over `limit` bytes: at once from its Content-Length, or while a chunked one arrives (it is
    then read up to the limit and handed on from memory)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await _too_large(send, self.limit)
                return
            await self.app(scope, receive, send)  # the server delivers no more than Content-Length
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def buffered() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, buffered, send)


class HeadAsGet:
    """HEAD runs the GET route and sends its status and headers (content type included) without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def headers_only(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.body":
                if done:
                    return
                done = not message.get("more_body", False)
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _printable(text: str) -> str:
    """Lone surrogates (from a JSON `\\ud800` escape) as visible escapes: UTF-8 has no encoding for them."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(value: Any) -> Any:
    encoded = jsonable_encoder(value)
    text = encoded if isinstance(encoded, str) else json.dumps(encoded, ensure_ascii=False, default=str)
    if len(text) <= MAX_ECHO and _printable(text) == text:
        return encoded
    return _printable(f"{text[:MAX_ECHO]}... ({len(text):,} characters, cut)" if len(text) > MAX_ECHO else text)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with every echoed input and message cut to MAX_ECHO characters and at most MAX_ERRORS errors."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    detail = []
    for error in errors[:MAX_ERRORS]:
        item = {k: v for k, v in error.items() if k not in ("input", "ctx", "url")}
        item["loc"] = [_printable(x) if isinstance(x, str) else x for x in item.get("loc", ())]  # a dict key
        item["msg"] = _printable(str(item.get("msg", ""))[: MAX_ECHO * 2])
        if "input" in error:
            item["input"] = _short(error["input"])
        if "ctx" in error:
            item["ctx"] = {k: _short(str(v) if isinstance(v, Exception) else v) for k, v in error["ctx"].items()}
        detail.append(item)
    content: dict[str, Any] = {"detail": detail}
    if len(errors) > MAX_ERRORS:
        content["errors_total"] = len(errors)
    return JSONResponse(content, status_code=422)
