"""The web portal: server-rendered pages (Jinja2) on the same services as the JSON API.

`install(app)` adds the holder pages (`views`) and the static files (CSS and a little JavaScript:
the Content-Security-Policy allows no inline script or style). See docs/portal.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry imports this package to read its declaration: no web stack then
    from fastapi import FastAPI

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Include the portal's routes and mount /static."""
    from fastapi.staticfiles import StaticFiles

    from carnet.portal.views import routers

    for router in routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
