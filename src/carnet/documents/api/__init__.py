"""Holder API for documents, folders and document preferences (rules DOC-1…DOC-7, REP-2, REP-4).

Every endpoint acts on the caller's own space, or on the space named by `X-Carnet-Space` when the
caller manages it (`accounts.family.resolve_space`: representative or caregiver; anything else is
404). What may be read is decided by the policy decision point through `documents.service` (one
document: `access.rules`; lists: `access.filters`); a document the caller may not read answers 404.

Documents keep the ids of the FHIR DocumentReferences. Uploads are read from the request stream and
refused with 413 as soon as they pass the size limit, before the rest is received (`uploads`);
reading, changing and deleting documents is `holder`; folders and preferences are `folders`.
"""

from __future__ import annotations

from fastapi import APIRouter

from carnet.documents.api import folders, holder, uploads

# The routes in the order the OpenAPI document lists them.
router = APIRouter()
router.include_router(uploads.router)
router.include_router(holder.router)
router.include_router(folders.router)
