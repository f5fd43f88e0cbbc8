"""The interactive API documentation pages, served with their scripts from this service.

FastAPI's default `/docs` and `/redoc` pages load Swagger UI and ReDoc from a public CDN, so
on a network without internet access they stay blank. Here the pages load the copies that the
`fastapi-offline` package ships (Swagger UI 5, which reads OpenAPI 3.1), served under
`/docs/assets`. ReDoc's script would still ask its CDN for the small logo beside "API docs by
Redocly"; the copy served here has that image dropped (`redoc_script`), so neither page asks
any other host for anything.
The pages are plain routes, outside the API's dependencies (such as refusing unknown query
parameters, which Swagger UI's OAuth2 redirect page receives).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
REDOC_SCRIPT = f"{ASSETS}/redoc.offline.js"
# the only resource ReDoc's script loads from elsewhere; "data:," is no image, so the logo's
# own error handler drops it, as it does when the CDN cannot be reached (without trying)
REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
NO_IMAGE = b'src:"data:,"'


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def redoc_script(original: bytes) -> bytes:
    """ReDoc's standalone script without the logo it would load from its CDN."""
    return original.replace(REDOC_LOGO, NO_IMAGE)


def install(app: FastAPI) -> None:
    """Serve `/docs` (Swagger UI) and `/redoc` (ReDoc) with local scripts.

    The app must be made with `docs_url=None, redoc_url=None` (FastAPI's CDN pages off)."""
    static = resources.files("fastapi_offline") / "static"
    script = redoc_script((static / "redoc.standalone.js").read_bytes())

    async def redoc_js(request: Request) -> Response:
        return Response(script, media_type="text/javascript")

    app.add_route(REDOC_SCRIPT, redoc_js, include_in_schema=False)  # before the folder
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    spec = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{spec}", title=f"{app.title} - API",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters)

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{spec}", title=f"{app.title} - API reference",
            redoc_js_url=f"{root}{REDOC_SCRIPT}",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False)

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT, swagger_ui_redirect, include_in_schema=False)
    app.add_route(REDOC, redoc, include_in_schema=False)
