"""`/docs`: the API's Swagger UI, served with its scripts and styles from the files the
`fastapi-offline` package ships (Swagger UI 5, which reads the OpenAPI 3.1 FastAPI writes), so that
the page works on a machine without internet (no CDN, no outside favicon).

The page and its assets show no health data: anyone may load them (`public`), as `/openapi.json`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from carnet.access.routes import public
from carnet.errors import NotFound

PAGE = "/docs"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
_BUNDLE = files("fastapi_offline") / "static"  # its files only, none of its code
# What the page loads: nothing else of the package (its ReDoc bundle) is served.
_SERVED = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@router.get(PAGE, dependencies=[public()])
def page(request: Request) -> HTMLResponse:
    """Swagger UI over `/openapi.json`, its assets from this server."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
    )


@router.get(OAUTH2_REDIRECT, dependencies=[public()])
def oauth2_redirect() -> HTMLResponse:
    """Where Swagger UI's "Authorize" comes back after an OAuth2 sign-in."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(ASSETS + "/{name}", dependencies=[public()])
def asset(name: str) -> FileResponse:
    """One file of the Swagger UI bundle the page names."""
    media_type = _SERVED.get(name)
    if media_type is None:
        raise NotFound("No such file.")
    return FileResponse(str(_BUNDLE / name), media_type=media_type)
