"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served whole by this server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a server without internet access (and our
Content-Security-Policy) cannot reach. The scripts and styles come from the `fastapi-offline` package instead,
under /docs-assets/, and the pages run no inline script: Swagger UI starts from a small script of ours, ReDoc
from its `<redoc>` element. Both inject inline styles and ReDoc runs a worker from a blob: URL, so these two
pages (only) relax `style-src` and allow `worker-src blob:`. ReDoc's bundle names one image off this server (a
"powered by" logo); it is served with that image replaced by an empty one, which ReDoc then hides.
"""

from __future__ import annotations

from functools import cache
from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from retrieval.errors import PathNotFoundError
from serve.api.security import STRICT_CSP

router = APIRouter(include_in_schema=False)

ASSETS = Path(fastapi_offline.__file__).parent / "static"
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
DOCS_CSP = STRICT_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; worker-src 'self' blob:"
_CACHE = {"Cache-Control": "public, max-age=86400"}

# Swagger UI's start, as FastAPI's page does it, in a file of its own: the CSP allows no inline script. The
# OpenAPI URL is read from the page's element, so the script is the same behind any root path.
SWAGGER_INIT = """\
const element = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: element.dataset.openapi,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def _page(title: str, root: str, head: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="icon" type="image/png" href="{root}/docs-assets/favicon.png">\n{head}</head>\n'
        f"<body>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


def _root(request: Request) -> str:
    return escape(str(request.scope.get("root_path", "")).rstrip("/"))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return _page(
        f"{request.app.title} - Swagger UI",
        root,
        f'<link rel="stylesheet" href="{root}/docs-assets/swagger-ui.css">\n',
        f'<div id="swagger-ui" data-openapi="{root}{request.app.openapi_url}"></div>\n'
        f'<script src="{root}/docs-assets/swagger-ui-bundle.js"></script>\n'
        f'<script src="{root}/docs-assets/swagger-init.js"></script>\n',
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return _page(
        f"{request.app.title} - ReDoc",
        root,
        "",
        f'<redoc spec-url="{root}{request.app.openapi_url}"></redoc>\n'
        f'<script src="{root}/docs-assets/redoc.standalone.js"></script>\n',
    )


@router.get("/docs-assets/swagger-init.js")
def swagger_init() -> Response:
    return Response(SWAGGER_INIT, media_type="text/javascript", headers=_CACHE)


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _offline_redoc() -> bytes:
    """ReDoc's bundle without its one remote URL (an image that fails to load is hidden: `onError`)."""
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO.encode(), b"data:,")


@router.get("/docs-assets/redoc.standalone.js")
def redoc_bundle() -> Response:
    return Response(_offline_redoc(), media_type="text/javascript", headers=_CACHE)


@router.get("/docs-assets/{name}")
def asset(name: str) -> FileResponse:
    """One of the packaged files of Swagger UI and ReDoc (a fixed list: no path from the request reaches disk)."""
    if name not in _FILES:
        raise PathNotFoundError(f"no asset {name!r}")
    return FileResponse(ASSETS / name, media_type=_FILES[name], headers=_CACHE)
