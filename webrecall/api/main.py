"""The FastAPI app: `create_app(settings)` for tests and embedding, `app` for `uvicorn api.main:app`.

`app` reads the settings from the environment when imported, so the service refuses to start with the
default token when WEBRECALL_ENV=production (Settings validates that).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from webrecall.api.deps import require_token
from webrecall.api.docs import add_redoc
from webrecall.api.middleware import BodyLimit, HeadAsGet, validation_error
from webrecall.api.routes import domains, exports, health, labels, metrics, models, queue, rounds, stats
from webrecall.core import db as dbm
from webrecall.core.settings import Settings

READ_ROUTERS = (rounds.router, stats.router, domains.router, queue.router, labels.router, exports.router,
                models.router, metrics.router)  # fmt: skip


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """As FastAPI's, except that a 405's `Allow` lists the methods of every route on the path, not the first."""
    if exc.status_code == 405:
        methods: set[str] = set()
        for template, item in request.app.openapi()["paths"].items():
            if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
                methods.update(m.upper() for m in item)
        methods.update({"HEAD"} if "GET" in methods else set())
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # check only: the schema is migrated once by `webrecall init` (the compose `migrate` service), not per worker
        await run_in_threadpool(dbm.ensure_schema, settings.db_url)
        yield

    app: FastAPI = FastAPIOffline(  # /docs and /redoc with their assets served from the package: no CDN
        title="webrecall", version="0.1.0", lifespan=lifespan, redoc_url=None,
        description="Recall the code-related pages of a web crawl: rounds, corpus stats, domains, the annotation "
        "queue, labels, exports and models. State-changing routes need `Authorization: Bearer <token>`; "
        "read routes too unless WEBRECALL_PUBLIC_READS is true (the default).",
    )  # fmt: skip
    add_redoc(app)
    app.state.settings = settings
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    read_deps: list[Any] = [] if settings.public_reads else [Depends(require_token)]
    for router in READ_ROUTERS:
        app.include_router(router, dependencies=read_deps)
    app.include_router(health.router)  # always public: load balancers and orchestrators probe it
    return app


app = create_app()
