"""The holder API's folders (DOC-6) and document preferences (DOC-5, DOC-7).

Every route acts on an open space (`common.require_open`); changing the default masking is an
access setting that caregivers may not change (REP-4).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.access.routes import SpaceHeader, authenticated
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.auth.principal import Principal, PrincipalKind
from carnet.documents import changes, service
from carnet.documents.api.common import ACCESS_SETTINGS, CHANGE, READ, require_open
from carnet.documents.models import DocumentPreference, Folder
from carnet.documents.schemas import FolderIn, FolderOut, PreferencesIn, PreferencesOut
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import db_session
from carnet.http import error_responses as _errors
from carnet.vault.service import Vault

router = APIRouter(prefix="/api/v1", tags=["documents"])


def _folder_out(session: Session, vault: Vault, folder: Folder) -> FolderOut:
    return FolderOut(
        id=folder.id,
        name=service.folder_name(session, vault, folder),
        created_at=folder.created_at,
    )


@router.get(
    "/me/folders",
    response_model=list[FolderOut],
    summary="The space's folders, by name",
    responses=_errors(404, 409),
)
def list_folders(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> list[FolderOut]:
    holder = _open_space(request, session, principal, space, READ)
    vault = _vault(request)
    folders = session.scalars(select(Folder).where(Folder.holder_id == holder.id)).all()
    out = [_folder_out(session, vault, folder) for folder in folders]
    return sorted(out, key=lambda f: (f.name.casefold(), f.created_at))


@router.post(
    "/me/folders",
    status_code=201,
    response_model=FolderOut,
    summary="Create a folder",
    responses=_errors(400, 404, 409),
)
def create_folder(
    body: FolderIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> FolderOut:
    vault = _vault(request)
    holder = _open_space(request, session, principal, space, CHANGE)
    folder = changes.create_folder(session, vault, holder, principal, body.name)
    return _folder_out(session, vault, folder)


@router.patch(
    "/me/folders/{folder_id}",
    response_model=FolderOut,
    summary="Rename a folder",
    responses=_errors(400, 404, 409),
)
def rename_folder(
    folder_id: uuid.UUID,
    body: FolderIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> FolderOut:
    vault = _vault(request)
    holder = _open_space(request, session, principal, space, CHANGE)
    folder = changes.rename_folder(session, vault, holder, principal, folder_id, body.name)
    return _folder_out(session, vault, folder)


@router.delete(
    "/me/folders/{folder_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a folder; its documents stay, in no folder",
    responses=_errors(404, 409),
)
def delete_folder(
    folder_id: uuid.UUID,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    holder = _open_space(request, session, principal, space, CHANGE)
    changes.delete_folder(session, holder, principal, folder_id)
    return Response(status_code=204)


@router.get(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Default confidentiality of new documents (DOC-5) and new-document e-mails (DOC-7)",
    responses=_errors(404, 409),
)
def get_preferences(
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> PreferencesOut:
    holder = _open_space(request, session, principal, space, READ)
    pref = service.preferences(session, holder.id)
    return _preferences_out(pref)


@router.put(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Set the default confidentiality of new documents (DOC-5) and new-document e-mails",
    responses=_errors(400, 403, 404, 409),
)
def put_preferences(
    body: PreferencesIn,
    request: Request,
    space: SpaceHeader = None,
    principal: Principal = authenticated(PrincipalKind.HOLDER),
    session: Session = Depends(db_session, scope="function"),
) -> PreferencesOut:
    """Fields left out keep their value. Caregivers cannot change the default masking (REP-4)."""
    action = ACCESS_SETTINGS if body.mask_new_documents is not None else CHANGE
    holder = _open_space(request, session, principal, space, action)
    pref = changes.set_preferences(
        session,
        holder,
        principal,
        mask_new_documents=body.mask_new_documents,
        notify_new_documents=body.notify_new_documents,
    )
    return _preferences_out(pref)


def _open_space(
    request: Request, session: Session, principal: Principal, space: SpaceHeader, action: str
) -> Holder:
    """The space acted on (`family.resolve_space` for `action`), refused unless open."""
    settings = _settings(request)
    holder, _relation = family.resolve_space(session, principal, space, action, settings=settings)
    require_open(session, settings, principal, holder)
    return holder


def _preferences_out(pref: DocumentPreference) -> PreferencesOut:
    return PreferencesOut(
        mask_new_documents=pref.mask_new_documents,
        notify_new_documents=pref.notify_new_documents,
    )
