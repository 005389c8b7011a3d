"""The session cookie's routes: a login ticket buys an HttpOnly cookie; bad, stale or cross-site requests do not."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.annotator.conftest import World
from webrecall.annotator import cookie
from webrecall.core.db import session, utcnow
from webrecall.core.labelling import accounts


def test_a_ticket_buys_the_cookie_once_and_briefly(world: World) -> None:
    client = TestClient(Starlette(routes=cookie.routes()), base_url="http://annotator.test")
    with session(world.db_url) as db:
        alice = accounts.get_account(db, "alice")
        ticket = accounts.login_ticket(alice)
        stale = accounts.login_ticket(alice, now=utcnow().timestamp() - 120)
        token = accounts.session_token(alice)
    assert client.post(cookie.PATH, json={"ticket": stale}).status_code == 403
    assert client.post(cookie.PATH, json={"ticket": token}).status_code == 403  # a session token is no ticket
    assert client.post(cookie.PATH, content=b"not json").status_code == 400
    crossed = client.post(cookie.PATH, json={"ticket": ticket}, headers={"Origin": "http://evil.example"})
    assert crossed.status_code == 403 and "set-cookie" not in crossed.headers
    ok = client.post(cookie.PATH, json={"ticket": ticket}, headers={"Origin": "http://annotator.test"})
    header = ok.headers["set-cookie"]
    assert ok.status_code == 200 and header.startswith(f"{cookie.COOKIE}=alice.")
    assert "HttpOnly" in header and "SameSite=strict" in header and "Max-Age=43200" in header
    with session(world.db_url) as db:
        assert accounts.from_token(db, header.split("=", 1)[1].split(";", 1)[0]).name == "alice"
    cleared = client.delete(cookie.PATH)
    assert cleared.status_code == 200 and 'webrecall_session=""' in cleared.headers["set-cookie"]
