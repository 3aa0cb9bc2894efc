"""Telling a person about their space: e-mail through the outbox, or a postal letter (LC-1, LC-7).

Notices: the space's opening and its provisional code (LC-1), renewals, majority (REP-3), its
suspension and the answer to an objection (LC-6), and its closing (LC-5). A minor's notice goes to
the managing representative (LC-7). The letter's content, which may carry a provisional code,
stays sealed under a system key until the batch is printed. Without an e-mail address nor a postal
one, nothing can reach the person: the notice is recorded as undeliverable, for the operator.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
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
    """The notice in French (the default language of everything a holder reads). Before the
    opposition deadline the space is not open yet: the opening notice says it will be, on that
    date, and nothing else (issue 16: it said both "est ouvert" and "sera ouvert")."""
    name = f"{holder.first_names} {holder.birth_name}"
    opening = kind == "account.notice" and deadline is not None
    lines = [
        "Madame, Monsieur,",
        "",
        f"Un espace santé Carnet sera ouvert au nom de {name}."
        if opening
        else f"Un espace santé Carnet est ouvert au nom de {name}.",
        f"Code provisoire : {rules.format_code(code)}",
    ]
    if opening and deadline is not None:
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
    """E-mail the notice when an address is known, else queue a letter. Returns "email",
    "letter" or "undeliverable".

    `transactional`: the person asked for this code and waits for it: the e-mail leaves right
    after the commit rather than at the next jobs run."""
    to = _addressee(session, holder, today, settings)
    if kind == "account.majority":
        body = majority_text(holder, code, settings)
        subject = "Vous gérez désormais vous-même votre espace santé Carnet"
    else:
        body = notice_text(holder, code, kind, holder.opposition_deadline, settings.base_url)
        subject = "Votre espace santé Carnet"
    return _deliver(
        session,
        vault,
        holder,
        to,
        kind,
        subject,
        body,
        transactional=transactional,
    )


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def majority_text(holder: Holder, code: str, settings: Settings) -> str:
    """REP-3: the young adult is told, in plain words, that they are of age, that they manage
    the space alone now, and what their former representatives no longer see."""
    return "\n".join(
        [
            "Madame, Monsieur,",
            "",
            f"{holder.first_names} {holder.birth_name}, vous avez {settings.majority_age} ans : "
            f"depuis le {_date(rules.majority_day(holder.birth_date, settings.majority_age))}, vous gérez vous-même votre espace santé Carnet, sans "
            "personne d'autre.",
            "Vos anciens représentants légaux (vos parents) n'y ont plus accès : ils ne voient plus "
            "vos documents, votre profil médical, vos rendez-vous, vos messages ni l'historique des "
            "accès, ne peuvent plus rien y ajouter ni le fermer, et ne reçoivent plus les avis qui "
            "le concernent. Les applications qu'ils y avaient connectées sont déconnectées.",
            "Un tuteur désigné par un juge, s'il y en a un, garde son rôle.",
            "",
            f"Code provisoire : {rules.format_code(code)}",
            f"Pour activer votre espace avec vos propres identifiants : {settings.base_url}"
            "/activation (numéro de sécurité sociale, code, date de naissance).",
            "Ce code est personnel, à usage unique, et expire.",
        ]
    )


def suspension_text(holder: Holder, code: str, deadline: dt.date, base_url: str) -> str:
    """LC-6: the space is suspended; the way to object (page, code, last day), in French."""
    return "\n".join(
        [
            "Madame, Monsieur,",
            "",
            f"L'espace santé Carnet de {holder.first_names} {holder.birth_name} est suspendu : "
            "personne ne peut le consulter ni s'y connecter pour le moment.",
            f"Vous pouvez vous opposer à cette suspension jusqu'au {_date(deadline)} inclus, sans "
            f"vous connecter, sur {base_url}/suspension/objection avec le numéro de sécurité "
            "sociale et ce code :",
            f"Code provisoire : {rules.format_code(code)}",
            "Un agent examinera votre opposition et vous répondra. Sans opposition à cette date, "
            "l'espace sera fermé (son contenu est archivé).",
        ]
    )


def send_suspension_notice(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    code: str,
    *,
    deadline: dt.date,
    today: dt.date,
) -> str:
    """LC-6: the holder (a minor's representative, LC-7) is told and given the way to object."""
    to = _addressee(session, holder, today, settings)
    body = suspension_text(holder, code, deadline, settings.base_url)
    return _deliver(
        session,
        vault,
        holder,
        to,
        "account.suspended",
        "Votre espace santé Carnet est suspendu",
        body,
    )


def decision_text(holder: Holder, decision: str, close_day: dt.date) -> str:
    """LC-6: the operator's answer to an objection, in French; the operator's note stays out."""
    lines = ["Madame, Monsieur,", ""]
    if decision == "lift":
        lines += [
            f"Votre opposition a été acceptée : l'espace santé Carnet de {holder.first_names} "
            f"{holder.birth_name} n'est plus suspendu.",
            "Il est de nouveau accessible comme avant la suspension.",
        ]
    else:
        lines += [
            f"Votre opposition a été examinée : la suspension de l'espace santé Carnet de "
            f"{holder.first_names} {holder.birth_name} est maintenue.",
            f"L'espace sera fermé à partir du {_date(close_day)} ; son contenu est archivé.",
        ]
    return "\n".join(lines)


def send_decision_notice(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    decision: str,
    *,
    close_day: dt.date,
    today: dt.date,
) -> str:
    """LC-6: whoever objected hears the decision (the holder, or a minor's representative)."""
    to = _addressee(session, holder, today, settings)
    subject = (
        "Votre espace santé Carnet n'est plus suspendu"
        if decision == "lift"
        else "Votre opposition à la suspension a été examinée"
    )
    return _deliver(
        session,
        vault,
        holder,
        to,
        "account.objection-decided",
        subject,
        decision_text(holder, decision, close_day),
    )


def closing_text(holder: Holder, *, erase: bool, archive_years: int, base_url: str) -> str:
    """LC-5: what closing means for the data, in French; no code, no health data."""
    lines = [
        "Madame, Monsieur,",
        "",
        f"L'espace santé Carnet de {holder.first_names} {holder.birth_name} est fermé.",
        "Plus aucun professionnel ne peut le consulter ni y ajouter de document.",
    ]
    if erase:
        lines.append(
            "Son effacement a été demandé : tout son contenu sera effacé lors du prochain "
            "traitement quotidien. Cela ne peut pas être annulé."
        )
    else:
        lines += [
            f"Son contenu est archivé pendant {archive_years} ans, puis effacé automatiquement.",
            f"Un nouvel espace peut être demandé à tout moment sur {base_url}/renewal : le "
            "contenu archivé y sera restauré.",
        ]
    return "\n".join(lines)


def send_closing_notice(
    session: Session,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    *,
    erase: bool,
    today: dt.date,
) -> str:
    """LC-5: the holder is told that their space is closed, whoever closed it; a minor's notice
    goes to the managing representative (LC-7). Returns "email", "letter" or "undeliverable"."""
    to = _addressee(session, holder, today, settings)
    body = closing_text(
        holder, erase=erase, archive_years=settings.archive_years, base_url=settings.base_url
    )
    return _deliver(
        session, vault, holder, to, "account.closed", "Votre espace santé Carnet est fermé", body
    )


def send_to_holder(
    session: Session,
    vault: Vault,
    holder: Holder,
    kind: str,
    subject: str,
    body: str,
    *,
    transactional: bool = False,
) -> str:
    """A notice about the holder's own account (a password recovery code, its outcome): to the
    holder themself, by e-mail when known, else by letter (LC-1). Returns "email" or "letter"."""
    return _deliver(
        session, vault, holder, holder, kind, subject, body, transactional=transactional
    )


def _deliver(
    session: Session,
    vault: Vault,
    holder: Holder,
    to: Holder,
    kind: str,
    subject: str,
    body: str,
    *,
    transactional: bool = False,
) -> str:
    """By e-mail when `to` has an address, else a sealed postal letter (LC-1); with neither, the
    notice is recorded as undeliverable (nothing sealed, nothing printed) for the operator."""
    if to.email:
        enqueue(
            session,
            kind=kind,
            recipient=to.email,
            subject=subject,
            body_text=body,
            holder_id=holder.id,
            transactional=transactional,
        )
        return "email"
    if not (to.postal_address or "").strip():
        session.add(PostalLetter(holder_id=holder.id, kind=kind, undeliverable_at=clock.now()))
        session.flush()
        return "undeliverable"
    letter = PostalLetter(holder_id=holder.id, kind=kind)
    session.add(letter)
    session.flush()
    content = {
        "name": f"{to.first_names} {to.birth_name}",
        "address": to.postal_address,
        "body": body,
    }
    letter.sealed = vault.seal_system(
        session, LETTER_KEY, json.dumps(content, ensure_ascii=False).encode(), letter_aad(letter.id)
    )
    return "letter"
