"""ReDoc served whole from the app: the page, its bundle and no image from elsewhere.

fastapi-offline serves the Swagger UI and ReDoc bundles from the package instead of a CDN, but ReDoc's bundle
still renders its "API docs by Redocly" logo from Redocly's CDN: an air-gapped browser logs a failed request on
every page view, and any other one tells that host who reads the docs. The bundle is served here with that one
image replaced by an inline SVG.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
INLINE_LOGO = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"
BUNDLE_URL = "/redoc-assets/redoc.standalone.js"


@cache
def _bundle() -> bytes:
    text = BUNDLE.read_text(encoding="utf-8")
    if LOGO not in text:  # a new fastapi-offline: the test that loads /redoc offline says whether it still holds
        return text.encode()
    return text.replace(LOGO, INLINE_LOGO).encode()


def add_redoc(app: FastAPI, *, url: str = "/redoc", static_url: str = "/static-offline-docs") -> None:
    """`url`: the ReDoc page, reading its bundle from this app (create the app with `redoc_url=None`)."""

    @app.get(url, include_in_schema=False)
    async def redoc_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{BUNDLE_URL}", with_google_fonts=False,
                              redoc_favicon_url=f"{root}{static_url}/favicon.png")  # fmt: skip

    @app.get(BUNDLE_URL, include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
