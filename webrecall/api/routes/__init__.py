"""One APIRouter per resource; `responses` documents the errors each route may answer with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorPublic(BaseModel):
    detail: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    reasons = {400: "Bad input (the reason is in `detail`)", 401: "No bearer token", 403: "Wrong token",
               404: "Not found", 409: "Conflicts with the current state", 503: "A dependency is down"}  # fmt: skip
    return {code: {"model": ErrorPublic, "description": reasons[code]} for code in codes}


AUTH = errors(401, 403)
