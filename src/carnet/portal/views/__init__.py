"""The portal's pages, by area; `routers()` lists them for `carnet.portal.install`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from carnet.portal.views import (
        access,
        account,
        contacts,
        documents,
        home,
        medical,
        professional,
        public,
        story,
    )

    return [
        public.router,
        home.router,
        documents.router,
        medical.router,
        story.router,
        contacts.router,
        access.router,
        account.router,
        professional.router,
    ]
