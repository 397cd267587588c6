"""`GET /`: the page, in the reader's language, and `/static`: its scripts, styles and vendored libraries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ingest.filetypes import SUPPORTED
from serve.api.services import ServicesDep
from serve.oidc.session import SESSION_COOKIE
from serve.web.messages import LANGUAGES, MESSAGES, choose_language

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def page(request: Request, s: ServicesDep, lang: Annotated[str | None, Query(max_length=8)] = None) -> HTMLResponse:
    language = choose_language(lang, request.headers.get("accept-language", ""))
    text = MESSAGES[language]
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "lang": language,
            "languages": LANGUAGES,
            "t": text,
            # A JSON data block (type="application/json" is never executed): the scripts' copy of the text.
            "messages_json": json.dumps(text, ensure_ascii=False).replace("<", "\\u003c"),
            "anonymous": s.anonymous,
            "doc_types": SUPPORTED,  # the type filter offers every format Docent parses (ingest/formats.py)
            # Single sign-on: the provider's name for the sign-in button, and whether this browser has a session
            # already (so the page asks /v1/me with its cookie instead of showing the sign-in form).
            "sso": s.oidc.provider if s.oidc is not None else "",
            "session": s.oidc is not None and s.oidc.session(request.cookies.get(SESSION_COOKIE, "")) is not None,
        },
        headers={"Cache-Control": "no-cache"},
    )


def install(app: FastAPI) -> None:
    """Serve the page and its static files from `app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
