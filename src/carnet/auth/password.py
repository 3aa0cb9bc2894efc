"""Changing one's password: the current one, then a new one under the activation policy (LC-4).

The current password is checked as a login checks it, under the same throttle (wrong ones count
and lock the username, HTTP 429), so a stolen token is no way to guess the password. A change ends
every other way in (`auth.service.end_access`): API tokens, portal sessions, pending login codes
and the apps the holder connected, all but the credential of the request that asks. The holder is
told by e-mail, without data. Like the login steps, refusals are returned, not raised, so that the
caller commits the counters and audit entries first. The API (`POST /api/v1/me/password`) and
the portal ("Mon compte", `/account/password`) call it alike; a forgotten password is
`auth.recovery`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from carnet.accounts import passwords
from carnet.accounts import service as account_service
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.login import (
    Outcome,
    clear_failures,
    count_failure,
    refusal,
    throttle_key,
)
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.recovery import end_recoveries
from carnet.auth.service import EndedAccess, end_access
from carnet.config import Settings
from carnet.errors import Forbidden, InvalidInput
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

CHANGED_SUBJECT = "Votre mot de passe Carnet a été modifié"
CHANGED_TEXT = "\n".join(
    [
        "Bonjour,",
        "",
        "Le mot de passe de votre espace Carnet vient d'être modifié. Vos autres connexions et les "
        "applications que vous aviez connectées ont été déconnectées.",
        "",
        "Si vous n'êtes pas à l'origine de ce changement, contactez sans attendre l'assistance.",
    ]
)


def change_password(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    current: str,
    new: str,
    *,
    client: str,
    keep_token: str | None = None,
    keep_session: uuid.UUID | None = None,
    request_id: str | None = None,
) -> Outcome[EndedAccess]:
    """A holder replaces their password (argon2id, `passwords.password_problem`'s policy); every
    other credential of theirs ends (`end_access`, a Carnet decision: the change is what one does
    when the password may be known to someone else)."""
    holder = (
        account_service.holder(session, principal.id)
        if principal.kind is PrincipalKind.HOLDER
        else None
    )
    if holder is None or holder.password_hash is None or holder.username is None:
        return Outcome(error=Forbidden("This account has no password to change."))
    key = throttle_key(session, vault, PrincipalKind.HOLDER, holder.username, client)
    wait = refusal(session, vault, settings, key, client)
    if wait is not None:
        return Outcome(error=wait)
    if not passwords.verify_password(holder.password_hash, current):
        count_failure(session, vault, settings, key, client)
        record(
            session,
            principal,
            "auth.password-change-failure",
            holder_id=holder.id,
            target_type="Account",
            target_id=principal.ref,
            reason="bad-password",
            request_id=request_id,
        )
        return Outcome(error=Forbidden("The current password is not correct.", code="bad-password"))
    if new == current:
        return Outcome(
            error=InvalidInput(
                "The new password must differ from the current one.", field="new_password"
            )
        )
    problem = passwords.password_problem(new, holder.username, holder.birth_date)
    if problem:
        return Outcome(error=InvalidInput(problem, field="new_password"))
    holder.password_hash = passwords.hash_password(new)
    clear_failures(session, key)
    end_recoveries(session, principal)  # a code asked for before is worth nothing now
    record(
        session,
        principal,
        "auth.password-change",
        holder_id=holder.id,
        target_type="Account",
        target_id=principal.ref,
        request_id=request_id,
    )
    ended = end_access(
        session,
        principal=principal,
        reason="password-changed",
        keep_token=keep_token,
        keep_session=keep_session,
        actor=principal,
        mode=Mode.NORMAL,
        request_id=request_id,
    )
    if holder.email:
        enqueue(
            session,
            kind="auth.password-changed",
            recipient=holder.email,
            subject=CHANGED_SUBJECT,
            body_text=CHANGED_TEXT,
            holder_id=holder.id,
        )
    return Outcome(ended)
