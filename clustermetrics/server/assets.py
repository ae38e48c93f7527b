"""Files the pages load, all from installed packages: nothing is fetched from another site.

- ``/static/style.css`` and ``/static/tables.js``: the pages' stylesheet and table script
  (:mod:`clustermetrics.static`), and ``/static/plotly.js`` (the report and compare pages'
  charts, from the plotly package), cached for a year (the pages' links carry the file's
  digest, so a new version is a new address).
- ``/docs``: Swagger UI, its script and stylesheet from the ``fastapi-offline`` package under
  ``/static/docs/``; the page's inline script runs by the answer's nonce. ``/docs`` and
  ``/openapi.json`` answer without a key: the schema describes the software, not a project's
  data. (No ReDoc: it loads its logo from its maker's site.)
"""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.resources
import secrets

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from .. import static
from ..errors import MissingDependencyError, NotFoundError

router = APIRouter(include_in_schema=False)

YEAR = "public, max-age=31536000, immutable"
# the files of fastapi-offline the docs pages load, and their types
DOCS_FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
              "swagger-ui.css": "text/css; charset=utf-8",
              "favicon.png": "image/png"}


def docs_csp(nonce: str) -> str:
    """The docs page's policy: scripts from this server and the page's own by its nonce;
    styles from here and inline (Swagger UI sets them; a style cannot run code); the schema
    (and "Try it out") fetched from here."""
    return (f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")


@router.get("/static/plotly.js")
async def plotly_file() -> Response:
    """plotly.js from the installed plotly package, for the report and compare pages."""
    return Response(_plotly(), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": YEAR})


@functools.cache
def _plotly() -> bytes:
    from plotly.offline import get_plotlyjs
    return get_plotlyjs().encode()


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """The pages' stylesheet or table script (only those: the name is looked up, never
    joined to a path)."""
    if name not in static.FILES:
        raise NotFoundError("file", name, sorted(static.FILES))
    return Response(static.text(name), media_type=static.FILES[name],
                    headers={"Cache-Control": YEAR})


@router.get("/static/docs/{name}")
async def docs_file(name: str) -> Response:
    if name not in DOCS_FILES:
        raise NotFoundError("file", name, sorted(DOCS_FILES))
    return Response(_docs_asset(name), media_type=DOCS_FILES[name],
                    headers={"Cache-Control": YEAR})


@functools.cache
def _docs_asset(name: str) -> bytes:
    try:
        files = importlib.resources.files("fastapi_offline")
    except ModuleNotFoundError:
        raise MissingDependencyError(
            "The API docs pages need fastapi-offline: pip install 'clustermetrics[server]' "
            "(or pip install fastapi-offline).") from None
    return (files / "static" / name).read_bytes()


@functools.cache
def _version(name: str) -> str:
    return hashlib.sha256(_docs_asset(name)).hexdigest()[:12]


def _with_nonce(page: str, nonce: str) -> HTMLResponse:
    page = page.replace("<script>", f'<script nonce="{html.escape(nonce)}">')
    page = page.replace("<script src=", f'<script nonce="{html.escape(nonce)}" src=')
    return HTMLResponse(page, headers={"Content-Security-Policy": docs_csp(nonce)})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over this server's schema, from the installed package."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} {request.app.version}: API",
        swagger_js_url=f"{root}/static/docs/swagger-ui-bundle.js"
                       f"?v={_version('swagger-ui-bundle.js')}",
        swagger_css_url=f"{root}/static/docs/swagger-ui.css?v={_version('swagger-ui.css')}",
        swagger_favicon_url=f"{root}/static/docs/favicon.png",
        oauth2_redirect_url=None,
        # no call to the public validator (an image from another site)
        swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False})
    return _with_nonce(bytes(page.body).decode(), secrets.token_urlsafe(18))
