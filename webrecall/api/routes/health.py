"""Health of what the service needs: the database, the storage, and the broker when rounds go to Celery."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from webrecall.api import schemas
from webrecall.api.deps import SessionDep, SettingsDep
from webrecall.core.storage.store import Store

router = APIRouter(prefix="/health", tags=["health"])


def _check_db(db: SessionDep) -> schemas.ComponentHealth:
    try:
        db.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return schemas.ComponentHealth(status="error", detail=f"{type(exc).__name__}: {exc}"[:300])
    return schemas.ComponentHealth(status="ok")


def _check_storage(root: str) -> schemas.ComponentHealth:
    try:
        store = Store(root)
        if not store.fs.exists(store.base):
            return schemas.ComponentHealth(status="error", detail=f"{root} does not exist")
    except Exception as exc:  # noqa: BLE001
        return schemas.ComponentHealth(status="error", detail=f"{type(exc).__name__}: {exc}"[:300])
    return schemas.ComponentHealth(status="ok")


def _check_broker(url: str) -> schemas.ComponentHealth:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return schemas.ComponentHealth(status="error", detail=f"{type(exc).__name__}: {exc}"[:300])
    return schemas.ComponentHealth(status="ok")


@router.get("", responses={503: {"model": schemas.HealthPublic, "description": "A component is down"}})
def health(settings: SettingsDep, db: SessionDep, response: Response) -> schemas.HealthPublic:
    """200 when every configured component answers, 503 (with the same body) otherwise."""
    broker = (_check_broker(settings.broker_url) if settings.execution == "celery"
              else schemas.ComponentHealth(status="not configured", detail="rounds run in-process"))  # fmt: skip
    parts = {"database": _check_db(db), "storage": _check_storage(settings.data_dir), "broker": broker}
    ok = all(p.status != "error" for p in parts.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return schemas.HealthPublic(status="ok" if ok else "degraded", **parts)


