"""`Annotated` dependency aliases: settings, a database session, and token auth."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from webrecall.core.db import session
from webrecall.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <WEBRECALL_API_TOKEN>`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_db(settings: SettingsDep) -> Iterator[Session]:
    with session(settings.db_url) as db:
        yield db


SessionDep = Annotated[Session, Depends(get_db)]


def require_token(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """401 without a bearer token, 403 with a wrong one (constant-time comparison)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    if not secrets.compare_digest(credentials.credentials.encode(), settings.api_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")


TokenDep = Annotated[None, Depends(require_token)]
