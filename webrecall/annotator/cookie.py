"""The session cookie: HTTP routes beside the Streamlit app that set and clear it.

A refresh must keep the login, and the session token used to sit in the URL (`?session=...`), so it travelled with
every shared link and stayed in the browser's history. It now lives in an HttpOnly cookie (no script can read
it), SameSite=Strict, Secure behind HTTPS. Streamlit reads cookies (`st.context.cookies`, from the websocket's
handshake) but cannot set one from a script run, which goes over the websocket: after a login the page hands the
browser a one-minute ticket (`accounts.login_ticket`), and the browser trades it here for the cookie.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from webrecall.core.db import session
from webrecall.core.labelling import accounts
from webrecall.core.settings import Settings

COOKIE = "webrecall_session"
PATH = "/_webrecall/session"


def _same_origin(request: Request) -> bool:
    """A browser names the page's origin on a cross-site request: only the app's own pages may set or clear the
    login (with SameSite=Strict and a JSON body, which a cross-site form cannot send)."""
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host")


def _token_for(ticket: str) -> str | None:
    with session(Settings().db_url) as db:
        account = accounts.from_ticket(db, ticket)
        return accounts.session_token(account) if account is not None else None


async def open_session(request: Request) -> Response:
    """POST {"ticket": ...}: the session cookie for the ticket's account (403 for a bad or stale ticket)."""
    if not _same_origin(request):
        return JSONResponse({"detail": "cross-origin request"}, status_code=403)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"detail": "expected a JSON body {\"ticket\": ...}"}, status_code=400)
    ticket = body.get("ticket") if isinstance(body, dict) else None
    token = await run_in_threadpool(_token_for, str(ticket)) if isinstance(ticket, str) else None
    if token is None:
        return JSONResponse({"detail": "the login ticket is invalid or expired: log in again"}, status_code=403)
    response = JSONResponse({"ok": True})
    response.set_cookie(COOKIE, token, max_age=accounts.TOKEN_SECONDS, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https")
    return response


async def close_session(request: Request) -> Response:
    """DELETE: the cookie is cleared (logging out)."""
    if not _same_origin(request):
        return JSONResponse({"detail": "cross-origin request"}, status_code=403)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def routes() -> list[BaseRoute]:
    return [Route(PATH, open_session, methods=["POST"]), Route(PATH, close_session, methods=["DELETE"])]


def script(action: str, ticket: str = "") -> str:
    """The browser's half: trade the ticket for the cookie, or clear it (run once, right after the login or logout)."""
    body = json.dumps(json.dumps({"ticket": ticket})) if action == "open" else "null"
    method = "POST" if action == "open" else "DELETE"
    return (f"<script>fetch({json.dumps(PATH)}, {{method: {json.dumps(method)}, credentials: 'same-origin', "
            f"headers: {{'Content-Type': 'application/json'}}, body: {body}}});</script>")
