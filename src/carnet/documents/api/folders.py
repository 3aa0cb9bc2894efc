"""The holder API's folders (DOC-6) and document preferences (DOC-5, DOC-7).

Every route acts on an open space (`common.require_open`); changing the default masking is an
access setting that caregivers may not change (REP-4).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.access.routes import Acting, acting_on
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.documents import changes, service
from carnet.documents.api.common import ACCESS_SETTINGS, CHANGE, READ, require_open
from carnet.documents.models import DocumentPreference, Folder
from carnet.documents.schemas import FolderIn, FolderOut, PreferencesIn, PreferencesOut
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
    acting: Acting = acting_on(READ),
) -> list[FolderOut]:
    holder = _open_space(acting)
    vault = acting.vault
    folders = acting.session.scalars(select(Folder).where(Folder.holder_id == holder.id)).all()
    out = [_folder_out(acting.session, vault, folder) for folder in folders]
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
    acting: Acting = acting_on(CHANGE),
) -> FolderOut:
    vault = acting.vault
    holder = _open_space(acting)
    folder = changes.create_folder(acting.session, vault, holder, acting.principal, body.name)
    return _folder_out(acting.session, vault, folder)


@router.patch(
    "/me/folders/{folder_id}",
    response_model=FolderOut,
    summary="Rename a folder",
    responses=_errors(400, 404, 409),
)
def rename_folder(
    folder_id: uuid.UUID,
    body: FolderIn,
    acting: Acting = acting_on(CHANGE),
) -> FolderOut:
    vault = acting.vault
    holder = _open_space(acting)
    folder = changes.rename_folder(
        acting.session, vault, holder, acting.principal, folder_id, body.name
    )
    return _folder_out(acting.session, vault, folder)


@router.delete(
    "/me/folders/{folder_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a folder; its documents stay, in no folder",
    responses=_errors(404, 409),
)
def delete_folder(
    folder_id: uuid.UUID,
    acting: Acting = acting_on(CHANGE),
) -> Response:
    holder = _open_space(acting)
    changes.delete_folder(acting.session, holder, acting.principal, folder_id)
    return Response(status_code=204)


@router.get(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Default confidentiality of new documents (DOC-5) and new-document e-mails (DOC-7)",
    responses=_errors(404, 409),
)
def get_preferences(
    acting: Acting = acting_on(READ),
) -> PreferencesOut:
    holder = _open_space(acting)
    pref = service.preferences(acting.session, holder.id)
    return _preferences_out(pref)


@router.put(
    "/me/document-preferences",
    response_model=PreferencesOut,
    summary="Set the default confidentiality of new documents (DOC-5) and new-document e-mails",
    responses=_errors(400, 403, 404, 409),
)
def put_preferences(
    body: PreferencesIn,
    acting: Acting = acting_on(CHANGE),
) -> PreferencesOut:
    """Fields left out keep their value. Caregivers cannot change the default masking (REP-4)."""
    if body.mask_new_documents is not None:
        family.refuse_caregiver(acting.relation, ACCESS_SETTINGS)
    holder = _open_space(acting)
    pref = changes.set_preferences(
        acting.session,
        holder,
        acting.principal,
        mask_new_documents=body.mask_new_documents,
        notify_new_documents=body.notify_new_documents,
    )
    return _preferences_out(pref)


def _open_space(acting: Acting) -> Holder:
    """The space acted on, refused unless open."""
    require_open(acting.session, acting.settings, acting.principal, acting.holder)
    return acting.holder


def _preferences_out(pref: DocumentPreference) -> PreferencesOut:
    return PreferencesOut(
        mask_new_documents=pref.mask_new_documents,
        notify_new_documents=pref.notify_new_documents,
    )
