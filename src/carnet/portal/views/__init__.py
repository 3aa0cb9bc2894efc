"""The portal's pages, by area; `routers()` lists them for `carnet.portal.install`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from carnet.portal.views import (
        access,
        account,
        agenda,
        apps,
        contacts,
        document_upload,
        documents,
        federation,
        home,
        medical,
        messages,
        objection,
        passkeys,
        pro_messages,
        professional,
        public,
        security,
        story,
    )

    return [
        public.router,
        objection.router,
        home.router,
        documents.router,
        document_upload.router,
        medical.router,
        story.router,
        contacts.router,
        messages.router,
        agenda.router,
        access.router,
        account.router,
        security.router,
        apps.router,
        professional.router,
        pro_messages.router,
        passkeys.router,
        federation.router,
    ]
