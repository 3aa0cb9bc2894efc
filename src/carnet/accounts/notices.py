"""Telling a person about their space: e-mail through the outbox, or a postal letter (LC-1, LC-7).

A minor's notice goes to the managing representative (LC-7). The letter's content, which carries
the provisional code, stays sealed under a system key until the letters batch is printed.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.accounts import rules
from carnet.accounts.models import Holder, PostalLetter, Representation
from carnet.config import Settings
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

LETTER_KEY = "letters"


def letter_aad(letter_id: object) -> bytes:
    return f"letter|{letter_id}".encode()


def _addressee(session: Session, holder: Holder, today: dt.date, settings: Settings) -> Holder:
    """Who receives the notice: the holder, or for a minor the managing representative (LC-7)."""
    if not rules.is_minor(holder.birth_date, today, settings.majority_age):
        return holder
    rep = session.scalars(
        select(Holder)
        .join(Representation, Representation.representative_id == Holder.id)
        .where(Representation.minor_id == holder.id, Representation.status == "accepted")
        .order_by(Representation.role)  # "managing" before "second"
    ).first()
    return rep or holder


def notice_text(
    holder: Holder, code: str, kind: str, deadline: dt.date | None, base_url: str
) -> str:
    """The notice in French (the default language of everything a holder reads)."""
    lines = [
        "Madame, Monsieur,",
        "",
        f"Un espace santé Carnet est ouvert au nom de {holder.first_names} {holder.birth_name}.",
        f"Code provisoire : {rules.format_code(code)}",
    ]
    if kind == "account.notice" and deadline is not None:
        lines += [
            "",
            f"Vous pouvez vous y opposer jusqu'au {deadline.strftime('%d/%m/%Y')} inclus, sans vous "
            f"connecter, sur {base_url}/opposition avec votre numéro de sécurité sociale et ce code.",
            "Sans opposition, l'espace sera ouvert à cette date.",
        ]
    lines += [
        "",
        f"Pour activer l'espace : {base_url}/activation (numéro de sécurité sociale, code, date de "
        "naissance).",
        "Ce code est personnel, à usage unique, et expire.",
    ]
    return "\n".join(lines)


def send_notice(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    code: str,
    *,
    kind: str = "account.notice",
    today: dt.date,
    transactional: bool = False,
) -> str:
    """E-mail the notice when an address is known, else queue a letter. Returns "email"/"letter".

    `transactional`: the person asked for this code and waits for it: the e-mail leaves right
    after the commit rather than at the next jobs run."""
    to = _addressee(session, holder, today, settings)
    body = notice_text(holder, code, kind, holder.opposition_deadline, settings.base_url)
    if to.email:
        enqueue(
            session,
            kind=kind,
            recipient=to.email,
            subject="Votre espace santé Carnet",
            body_text=body,
            holder_id=holder.id,
            transactional=transactional,
        )
        return "email"
    letter = PostalLetter(holder_id=holder.id, kind=kind)
    session.add(letter)
    session.flush()
    content = {
        "name": f"{to.first_names} {to.birth_name}",
        "address": to.postal_address or "",
        "body": body,
    }
    letter.sealed = vault.seal_system(
        session, LETTER_KEY, json.dumps(content, ensure_ascii=False).encode(), letter_aad(letter.id)
    )
    return "letter"
