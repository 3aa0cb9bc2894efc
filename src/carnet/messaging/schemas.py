"""What the messaging API says and accepts; the same shapes for holders and professionals (SRV-1)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from carnet.messaging import rules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationIn(_Strict):
    """A new conversation and its first message (sent, or kept as a draft)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "8f0c1a52-2d1e-4f59-9c1f-0d6a4b0c2d11",
                    "cc": ["10000000016"],
                    "subject": "Vos résultats",
                    "body": "Bonjour, vos résultats sont normaux.",
                }
            ]
        },
    )

    patient_id: uuid.UUID | None = Field(
        None, description="Professionals: the patient (their space id). Holders: leave out."
    )
    to: list[str] = Field(
        default_factory=list,
        max_length=rules.MAX_RECIPIENTS,
        description="RPPS of professionals addressed. Holders: a pharmacy that dispensed to them.",
    )
    cc: list[str] = Field(default_factory=list, max_length=rules.MAX_RECIPIENTS)
    subject: str = Field(max_length=rules.SUBJECT_MAX * 2)
    body: str = Field(max_length=rules.BODY_MAX * 2)
    document_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=rules.MAX_ATTACHMENTS,
        description="Documents of the space to attach (the decision point checks each read).",
    )
    draft: bool = Field(False, description="Keep as a draft instead of sending.")


class MessageIn(_Strict):
    """A message in an existing conversation (a reply), sent or kept as a draft."""

    body: str = Field(max_length=rules.BODY_MAX * 2)
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=rules.MAX_ATTACHMENTS)
    draft: bool = False


class DraftChange(_Strict):
    """Fields left out keep their value; document_ids are added as attachments."""

    body: str | None = Field(None, max_length=rules.BODY_MAX * 2)
    subject: str | None = Field(None, max_length=rules.SUBJECT_MAX * 2)
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=rules.MAX_ATTACHMENTS)


class PartyOut(BaseModel):
    party: str = Field(description="holder | professional")
    role: str = Field(description="to | cc")
    name: str
    rpps: str | None
    profession: str | None
    read_at: dt.datetime | None = Field(description="Read receipt: when this party last read.")


class AttachmentOut(BaseModel):
    id: uuid.UUID
    name: str
    mime_type: str
    size: int
    source: str = Field(description="device | document")


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    author_party: str = Field(description="holder | professional")
    author: str
    author_signs_as: str = Field(
        description="self, representative or caregiver (for the holder side), or professional."
    )
    author_rpps: str | None
    mine: bool
    status: str = Field(description="draft | sent")
    body: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attachments: list[AttachmentOut]
    read_by: list[PartyOut] = Field(description="Read receipts of the other parties.")


class ConversationOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient: str
    subject: str
    status: str = Field(description="draft | open | ended (replies refused)")
    started_by: str = Field(description="holder | professional")
    created_at: dt.datetime
    last_message_at: dt.datetime
    ended_at: dt.datetime | None
    participants: list[PartyOut]
    unread: int
    messages: list[MessageOut] = Field(
        default_factory=list, description="Only when one conversation is read."
    )


class PharmacyOut(BaseModel):
    rpps: str
    name: str


class SavedDocumentOut(BaseModel):
    document_id: uuid.UUID = Field(description="The new document in the space (DOC-1).")
