"""Annotator accounts: bcrypt passwords, roles, the signed session token a refresh keeps the login with (in an
HttpOnly cookie), and the short login ticket the browser trades for that cookie."""

from __future__ import annotations

import hashlib
import re
import time

import bcrypt
from itsdangerous import BadSignature, TimestampSigner
from sqlmodel import Session, col, select

from webrecall.core.db import Annotator
from webrecall.core.labelling import claims, queue

ROLES = ("annotator", "reviewer", "admin")
TOKEN_SECONDS = 12 * 3600
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=4))
_SALT = "webrecall.annotator.session"
_TICKET_SALT = "webrecall.annotator.login-ticket"
TICKET_SECONDS = 60


def create_account(db: Session, name: str, password: str, role: str = "annotator") -> Annotator:
    """A named account with a bcrypt hash; ValueError if the name is taken or the input is unusable."""
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
        raise ValueError(f"annotator name {name!r}: use 1-64 letters, digits or _.@-")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("the password needs at least 8 characters")
    if get_account(db, name) is not None:
        raise ValueError(f"annotator {name!r} exists")
    account = Annotator(name=name, role=role, password_hash=bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode())
    db.add(account)
    db.commit()
    return account


def get_account(db: Session, name: str) -> Annotator | None:
    return db.exec(select(Annotator).where(Annotator.name == name)).first()


def accounts(db: Session) -> list[Annotator]:
    return list(db.exec(select(Annotator).order_by(col(Annotator.name))))


def set_active(db: Session, name: str, active: bool) -> Annotator:
    """Disable (or enable again) an account: a disabled one cannot log in and its open session ends; its labels
    stay. ValueError for an unknown name."""
    account = get_account(db, name)
    if account is None:
        raise ValueError(f"no annotator {name!r}")
    account.active = active
    db.add(account)
    db.commit()
    return account


def remove_account(db: Session, name: str) -> None:
    """Delete an account (its labels stay in the history under its name; its claim goes back to the queue)."""
    account = get_account(db, name)
    if account is None:
        raise ValueError(f"no annotator {name!r}")
    held = claims.held_item(db, name)
    if held is not None:
        queue.release(db, held.id or 0, name)
    db.delete(account)
    db.commit()


def verify(db: Session, name: str, password: str) -> Annotator | None:
    """The active account if the password matches (an unknown name costs the same bcrypt check)."""
    account = get_account(db, name.strip())
    stored = account.password_hash.encode() if account else _DUMMY_HASH
    ok = bcrypt.checkpw(password.encode(), stored)
    return account if ok and account is not None and account.active else None


def has_role(role: str, needed: str) -> bool:
    """Roles are ordered: an admin may review, a reviewer may label."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


class _Signer(TimestampSigner):
    """itsdangerous' timestamped signer keyed by the account's password hash: a refresh stays logged in, a new
    password invalidates every token, and the server keeps no session table. SHA-384 because its 48 bytes are
    64 base64 characters with no padding bits: any changed character of the signature is a different one.
    `now` fixes the clock (for the signing time and for the age check); `salt` tells a session token from a login
    ticket."""

    def __init__(self, account: Annotator, now: float | None, salt: str = _SALT) -> None:
        super().__init__(account.password_hash, salt=salt, digest_method=hashlib.sha384)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now if self._now is not None else time.time())


def session_token(account: Annotator, *, now: float | None = None) -> str:
    """`name.timestamp.signature`, valid for TOKEN_SECONDS."""
    return _Signer(account, now).sign(account.name).decode()


def from_token(db: Session, token: str, *, now: float | None = None) -> Annotator | None:
    """The active account a token was signed for, if it is unexpired and untampered; None otherwise (a deactivated
    account's tokens stop working at once)."""
    return _unsign(db, token, now=now, salt=_SALT, max_age=TOKEN_SECONDS)


def login_ticket(account: Annotator, *, now: float | None = None) -> str:
    """A one-minute ticket the login page hands the browser, which trades it for the session cookie
    (`annotator.cookie`): the page never holds the session token itself."""
    return _Signer(account, now, _TICKET_SALT).sign(account.name).decode()


def from_ticket(db: Session, ticket: str, *, now: float | None = None) -> Annotator | None:
    """The active account a login ticket was signed for, within TICKET_SECONDS; None otherwise."""
    return _unsign(db, ticket, now=now, salt=_TICKET_SALT, max_age=TICKET_SECONDS)


def _unsign(db: Session, signed: str, *, now: float | None, salt: str, max_age: int) -> Annotator | None:
    name = signed.rsplit(".", 2)[0] if signed.count(".") >= 2 else ""
    account = get_account(db, name) if name else None
    if account is None or not account.active:
        return None
    try:
        value = _Signer(account, now, salt).unsign(signed, max_age=max_age)
    except BadSignature:  # SignatureExpired is one too
        return None
    return account if value.decode() == account.name else None
