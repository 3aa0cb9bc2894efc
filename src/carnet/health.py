"""Liveness and readiness probes for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access.routes import public
from carnet.errors import DatabaseUnavailable
from carnet.http import get_database

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[public()])
def healthz() -> dict[str, str]:
    """The process is alive (it answers); says nothing about its dependencies."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[public()])
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers. 503 otherwise, so traffic goes elsewhere."""
    try:
        get_database(request).ping()
    except DatabaseUnavailable:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
