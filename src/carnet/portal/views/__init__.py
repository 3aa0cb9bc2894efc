"""The portal's pages, by area; `routers()` lists them for `carnet.portal.install`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from carnet.portal.views import (
        access,
        account,
        apps,
        contacts,
        documents,
        home,
        professional,
        public,
    )

    return [
        public.router,
        home.router,
        documents.router,
        contacts.router,
        access.router,
        account.router,
        apps.router,
        professional.router,
    ]
