"""Helpers of the portal tests: accounts, the CSRF token of a page, the e-mailed login code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carnet.access import emergency as access_emergency
from carnet.access.models import CareRelationship
from carnet.accounts.lifecycle import issue_code
from carnet.accounts.models import Holder, Professional, Representation
from carnet.accounts.passwords import hash_password
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.documents import deposits
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.documents.helpers import pdf_bytes
from tests.factories import make_holder, make_professional
from tests.notifications.support import mail_text

PASSWORD = "un mot de passe assez long"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_OTP = re.compile(r"\b([0-9]{6})\b")


def make_account(database: Database, username: str = "marie", **overrides: Any) -> Holder:
    """An active holder who can log in (username, password, e-mail); committed."""
    values: dict[str, Any] = {
        "username": username,
        "password_hash": hash_password(PASSWORD),
        "email": f"{username}@example.org",
        "first_names": "Marie Anne",
        "birth_name": "DUPONT",
        "birth_date": dt.date(1980, 1, 1),
    }
    values.update(overrides)
    with database.transaction() as session:
        holder = make_holder(session, **values)
    return holder


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def last_code(database: Database, recipient: str) -> str:
    """The one-time code of the latest login e-mail sent to `recipient`, as received."""
    with database.transaction() as session:
        mail = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == recipient, OutboxMessage.kind == "auth.login-code")
            .order_by(OutboxMessage.created_at.desc())
        ).first()
    assert mail is not None, "no login code was e-mailed"
    found = _OTP.search(mail_text(mail))
    assert found is not None
    return found.group(1)


def log_in(
    client: TestClient,
    database: Database,
    username: str = "marie",
    password: str = PASSWORD,
    email: str | None = None,
) -> None:
    """Password, then the e-mailed code: the client ends with a portal session cookie."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": username, "password": password},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login/code"
    page = client.get("/login/code")
    code = last_code(database, email or f"{username}@example.org")
    response = client.post(
        "/login/code",
        data={"csrf_token": csrf_of(page.text), "code": code},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/home"


def post(
    client: TestClient,
    path: str,
    data: dict[str, str] | None = None,
    page: str | None = None,
    **kwargs: Any,
) -> Any:
    """POST a portal form with the CSRF token of `page` (default: the home page)."""
    html = client.get(page or "/home").text
    return client.post(
        path, data={"csrf_token": csrf_of(html), **(data or {})}, follow_redirects=False, **kwargs
    )


def make_child(database: Database, parent: Holder, **overrides: Any) -> Holder:
    """A minor whose accepted managing representative is `parent` (REP-1)."""
    values: dict[str, Any] = {
        "first_names": "Léa",
        "birth_name": "DUPONT",
        "birth_date": dt.date.today().replace(year=dt.date.today().year - 9, month=6, day=1),
        "state": "active",
    }
    values.update(overrides)
    with database.transaction() as session:
        child = make_holder(session, **values)
        session.add(
            Representation(
                minor_id=child.id,
                representative_id=parent.id,
                representative_nir=parent.nir,
                role="managing",
                status="accepted",
            )
        )
    return child


def make_notified(
    database: Database, vault: Vault, settings: Settings, **overrides: Any
) -> tuple[Holder, str]:
    """A notified person (LC-1) within the opposition deadline, and their provisional code."""
    values: dict[str, Any] = {
        "state": "notified",
        "notified_on": dt.date.today(),
        "opposition_deadline": dt.date.today() + dt.timedelta(weeks=6),
        "birth_name": "MARTIN",
        "first_names": "Paul",
        "birth_date": dt.date(1975, 4, 12),
        "email": "paul@example.org",
    }
    values.update(overrides)
    with database.transaction() as session:
        holder = make_holder(session, **values)
        code = issue_code(session, vault, settings, holder)
    return holder, code


def make_professional_in_care(database: Database, holder: Holder) -> Professional:
    """A physician authorised by the holder (ACC-1)."""
    with database.transaction() as session:
        pro = make_professional(session)
        session.add(
            CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
        )
    return pro


def emergency_access_to_new_account(
    database: Database, vault: Vault, settings: Settings
) -> tuple[Holder, Professional]:
    """A holder account and a physician of their care team who opened an emergency access to it
    (ACC-5): what the access history pages show and let report."""
    holder = make_account(database)
    pro = make_professional_in_care(database, holder)
    with database.transaction() as session:
        access_emergency.open_emergency(
            session,
            vault,
            settings,
            Principal(PrincipalKind.PROFESSIONAL, pro.id),
            holder.nir,
            "Patient inconscient aux urgences",
        )
    return holder, pro


def deposit(
    database: Database,
    vault: Vault,
    settings: Settings,
    holder: Holder,
    title: str = "Compte rendu",
    *,
    author: Professional | None = None,
    content: bytes | None = None,
    **flags: Any,
) -> Any:
    """A PDF (or `content`, typed by its bytes) deposited by a professional (LOINC 11502-2,
    laboratory report); returns its id."""
    with database.transaction() as session:
        pro = author or make_professional(session)
        doc = deposits.deposit(
            session,
            vault,
            settings,
            Principal(PrincipalKind.PROFESSIONAL, pro.id),
            session.get(Holder, holder.id),
            deposits.NewDocument(
                content=content if content is not None else pdf_bytes(title),
                title=title,
                declared_type=None if content is not None else "application/pdf",
                type_code="11502-2",
                notify=False,
                **flags,
            ),
        )
        return doc.id
