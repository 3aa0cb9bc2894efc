"""The posted form of a portal request (read once, within the body limit of `routing`)."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData


async def form_data(request: Request) -> FormData:
    """The request's form fields; the parse is cached, so the CSRF check and the route share it."""
    return await request.form(max_files=2, max_fields=40)
