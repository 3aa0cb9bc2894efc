"""The app catalogue, holders' consents, authorization codes and tokens (SRV-3, ACC-9).

Plain functions taking the session; the caller commits. The OAuth2 protocol itself is Authlib's
(`apps.oauth`); this module keeps what it stores. Every change is audited (ACC-8): catalogue
changes on the system chain, consents, tokens and refusals on the space's chain in mode "app".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import service as account_service
from carnet.accounts.family.relations import display_name, managed_spaces
from carnet.accounts.models import Holder
from carnet.apps import rules
from carnet.apps.models import App, AppAuthorizationCode, AppConsent, AppToken
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM, AppGrant, Principal, PrincipalKind
from carnet.auth.rules import APP_TOKEN_PREFIX
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.notifications.service import enqueue

REFRESH_PREFIX = "cnr_"
SECRET_PREFIX = "cns_"  # noqa: S105 - a prefix, not a secret
CODE_LIFETIME = dt.timedelta(minutes=10)  # RFC 6749 §4.1.2: ten minutes at most
REFRESH_LIFETIME = dt.timedelta(days=90)


def digest(value: str) -> str:
    """Codes, tokens and secrets carry 256 random bits: a fast hash is enough to store them."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def scope_text(scopes: Iterable[str]) -> str:
    return " ".join(rules.split_scopes(list(scopes)))


# -- the catalogue (operator) ------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """What the operator says about an app (`carnet app add|update`)."""

    name: str
    publisher: str
    description: str
    version: str
    redirect_uris: Sequence[str]
    scopes: Sequence[str]


def _check_listing(listing: Listing) -> tuple[str, str]:
    if not listing.name.strip() or len(listing.name) > 100:
        raise InvalidInput("An app name has 1 to 100 characters.", field="name")
    if not listing.publisher.strip() or len(listing.publisher) > 100:
        raise InvalidInput("A publisher has 1 to 100 characters.", field="publisher")
    if len(listing.description) > 2000:
        raise InvalidInput("A description has at most 2000 characters.", field="description")
    try:
        rules.check_version(listing.version)
        uris = [rules.check_redirect_uri(u.strip()) for u in listing.redirect_uris if u.strip()]
        scopes = rules.validate_scopes(listing.scopes)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if not uris:
        raise InvalidInput("Give at least one redirect URI.", field="redirect_uri")
    if not any(rules.parse_scope(s) for s in scopes):
        raise InvalidInput("List at least one patient/<Type>.<cruds> scope.", field="scope")
    return "\n".join(uris), " ".join(scopes)


def add_app(
    session: Session,
    client_id: str,
    listing: Listing,
    *,
    status: str = rules.ONLINE,
    confidential: bool = False,
    actor: Principal = SYSTEM,
) -> tuple[App, str | None]:
    """List an app (SRV-3); a confidential app's secret is returned once and stored hashed."""
    try:
        rules.check_client_id(client_id)
    except ValueError as error:
        raise InvalidInput(str(error), field="client_id") from None
    if status not in rules.STATUSES:
        raise InvalidInput(f"A status is one of {', '.join(rules.STATUSES)}.", field="status")
    if session.scalars(select(App.id).where(App.client_id == client_id)).first() is not None:
        raise Conflict(f"An app with client id {client_id!r} is already listed.")
    uris, scopes = _check_listing(listing)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32) if confidential else None
    app = App(
        client_id=client_id,
        name=listing.name.strip(),
        publisher=listing.publisher.strip(),
        description=listing.description.strip(),
        status=status,
        version=listing.version,
        redirect_uris=uris,
        scopes=scopes,
        secret_hash=digest(secret) if secret else None,
    )
    session.add(app)
    session.flush()
    record(session, actor, "app.add", target_type="App", target_id=str(app.id), reason=status)
    return app, secret


def app_by_id(session: Session, app_id: uuid.UUID) -> App | None:
    """The app with this row id (as the audit log names it), or None once it is gone."""
    return session.get(App, app_id)


def find_app(session: Session, client_id: str) -> App | None:
    """The app with this client id, or None. A value that is no client id is never looked up: a
    caller chose it, and PostgreSQL refuses some characters (NUL) in text with an error."""
    if not rules.is_client_id(client_id):
        return None
    return session.scalars(select(App).where(App.client_id == client_id)).first()


def get_app(session: Session, client_id: str) -> App:
    app = find_app(session, client_id)
    if app is None:
        raise NotFound(f"No app with client id {client_id!r}.")
    return app


def update_app(
    session: Session,
    client_id: str,
    *,
    name: str | None = None,
    publisher: str | None = None,
    description: str | None = None,
    version: str | None = None,
    redirect_uris: Sequence[str] | None = None,
    scopes: Sequence[str] | None = None,
    status: str | None = None,
    actor: Principal = SYSTEM,
) -> App:
    """Change a listing. ACC-9: a version whose listing asks for more than a holder consented to
    leaves that holder's tokens refused until they consent again (decided at each request)."""
    app = get_app(session, client_id)
    listing = Listing(
        name=app.name if name is None else name,
        publisher=app.publisher if publisher is None else publisher,
        description=app.description if description is None else description,
        version=app.version if version is None else version,
        redirect_uris=app.redirect_uris.split("\n") if redirect_uris is None else redirect_uris,
        scopes=app.scopes.split() if scopes is None else scopes,
    )
    uris, scope_list = _check_listing(listing)
    if scopes is not None and version in (None, app.version) and scope_list != app.scopes:
        raise InvalidInput(
            "A listing's scopes change with a new version (ACC-9): give --version too.",
            field="version",
        )
    if status is not None and status not in rules.STATUSES:
        raise InvalidInput(f"A status is one of {', '.join(rules.STATUSES)}.", field="status")
    app.name, app.publisher = listing.name.strip(), listing.publisher.strip()
    app.description, app.version = listing.description.strip(), listing.version
    app.redirect_uris, app.scopes = uris, scope_list
    if status is not None:
        app.status = status
    app.changed_at = clock.now()
    session.flush()
    record(
        session, actor, "app.update", target_type="App", target_id=str(app.id), reason=app.status
    )
    return app


def set_status(session: Session, client_id: str, status: str, actor: Principal = SYSTEM) -> App:
    """SRV-3: suspended and delisted apps lose access at once (the decision point reads the status
    at every request); their live tokens are revoked too, so introspection says so."""
    app = update_app(session, client_id, status=status, actor=actor)
    if status not in rules.WORKING:
        consents = select(AppConsent.id).where(AppConsent.app_id == app.id)
        _revoke_tokens(session, AppToken.consent_id.in_(consents), f"app-{status}")
    return app


def list_apps(session: Session, status: str | None = None) -> Sequence[App]:
    query = select(App).order_by(App.name, App.client_id)
    if status is not None:
        query = query.where(App.status == status)
    return session.scalars(query).all()


# -- consents ------------------------------------------------------------------------------------


def _active_consents(session: Session, app_id: uuid.UUID, space_id: uuid.UUID) -> list[AppConsent]:
    return list(
        session.scalars(
            select(AppConsent).where(
                AppConsent.app_id == app_id,
                AppConsent.holder_id == space_id,
                AppConsent.revoked_at.is_(None),
            )
        )
    )


def grant_consent(
    session: Session,
    app: App,
    space: Holder,
    principal: Principal,
    scopes: Sequence[str],
    *,
    request_id: str | None = None,
) -> AppConsent:
    """The holder (or one managing the space) approves `scopes` for `app` (ACC-9). A fresh consent
    replaces the previous one for that app and space: its tokens end."""
    if app.status not in rules.CONNECTABLE:
        raise Conflict("This app takes no new connection.", code=f"app-{app.status}")
    if not rules.within(scopes, app.scopes.split()):
        raise InvalidInput("Scopes beyond the app's listing.", code="invalid-scope")
    for old in _active_consents(session, app.id, space.id):
        revoke_consent(session, old, "replaced")
    consent = AppConsent(
        app_id=app.id,
        holder_id=space.id,
        granted_by=principal.id,
        scopes=scope_text(scopes),
        app_version=app.version,
        listing=app.scopes,
    )
    session.add(consent)
    session.flush()
    record(
        session, principal, "app.consent", holder_id=space.id, target_type="App",
        target_id=str(app.id), reason=f"v{app.version}:{len(scopes)} scopes"[:64],
        request_id=request_id,
    )  # fmt: skip
    return consent


def record_refusal(
    session: Session,
    app: App,
    space: Holder,
    principal: Principal,
    *,
    request_id: str | None = None,
) -> None:
    record(
        session, principal, "app.consent-refused", holder_id=space.id, target_type="App",
        target_id=str(app.id), request_id=request_id,
    )  # fmt: skip


def _revoke_tokens(session: Session, where: object, reason: str) -> int:
    result = session.execute(
        update(AppToken)
        .where(where, AppToken.revoked_at.is_(None))  # type: ignore[arg-type]
        .values(revoked_at=clock.now(), revoked_reason=reason[:20])
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_consent(session: Session, consent: AppConsent, reason: str) -> int:
    """End a consent and every token issued under it, at once."""
    consent.revoked_at = clock.now()
    session.execute(
        update(AppAuthorizationCode)
        .where(
            AppAuthorizationCode.consent_id == consent.id, AppAuthorizationCode.used_at.is_(None)
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return _revoke_tokens(session, AppToken.consent_id == consent.id, reason)


def end_consents(
    session: Session,
    *,
    reason: str,
    space_id: uuid.UUID | None = None,
    granted_by: uuid.UUID | None = None,
) -> int:
    """End the live consents on `space_id`, given by `granted_by`, or both conditions at once,
    with every token and unused code issued under them (ACC-9; called by
    `auth.service.end_access`). Returns how many consents ended."""
    if space_id is None and granted_by is None:
        raise ValueError("end_consents needs a space or a granting holder")
    query = select(AppConsent).where(AppConsent.revoked_at.is_(None))
    if space_id is not None:
        query = query.where(AppConsent.holder_id == space_id)
    if granted_by is not None:
        query = query.where(AppConsent.granted_by == granted_by)
    consents = session.scalars(query).all()
    for consent in consents:
        revoke_consent(session, consent, reason)
    return len(consents)


@dataclass(frozen=True)
class Connected:
    """An app connected to a space, as the holder reviews it (SRV-3)."""

    consent_id: uuid.UUID
    client_id: str
    name: str
    publisher: str
    status: str
    version: str
    consented_version: str
    scopes: list[str]
    connected_at: dt.datetime
    needs_fresh_consent: bool  # ACC-9: the current version asks for more


def connected_apps(session: Session, space_id: uuid.UUID) -> list[Connected]:
    rows = session.execute(
        select(AppConsent, App)
        .join(App, App.id == AppConsent.app_id)
        .where(AppConsent.holder_id == space_id, AppConsent.revoked_at.is_(None))
        .order_by(App.name, AppConsent.created_at)
    ).all()
    return [
        Connected(
            consent_id=consent.id,
            client_id=app.client_id,
            name=app.name,
            publisher=app.publisher,
            status=app.status,
            version=app.version,
            consented_version=consent.app_version,
            scopes=consent.scopes.split(),
            connected_at=consent.created_at,
            needs_fresh_consent=not rules.covers(consent.listing.split(), app.scopes.split()),
        )
        for consent, app in rows
    ]


def disconnect(
    session: Session,
    principal: Principal,
    space: Holder,
    client_id: str,
    *,
    request_id: str | None = None,
) -> int:
    """SRV-3, ACC-9: withdraw consent: every token of that app for that space stops at once."""
    app = get_app(session, client_id)
    consents = _active_consents(session, app.id, space.id)
    if not consents:
        raise NotFound("This app is not connected to this space.")
    revoked = sum(revoke_consent(session, consent, "disconnected") for consent in consents)
    record(
        session, principal, "app.disconnect", holder_id=space.id, target_type="App",
        target_id=str(app.id), request_id=request_id,
    )  # fmt: skip
    return revoked


# -- codes and tokens ------------------------------------------------------------------------


def save_code(
    session: Session,
    consent: AppConsent,
    code: str,
    *,
    redirect_uri: str,
    scopes: str,
    challenge: str,
    method: str,
    nonce: str | None = None,
    auth_time: dt.datetime | None = None,
) -> AppAuthorizationCode:
    row = AppAuthorizationCode(
        nonce=nonce,
        auth_time=auth_time,
        code_hash=digest(code),
        consent_id=consent.id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=challenge,
        code_challenge_method=method,
        expires_at=clock.now() + CODE_LIFETIME,
    )
    session.add(row)
    session.flush()
    return row


def nonce_used(session: Session, app: App, nonce: str) -> bool:
    """OpenID Connect: a nonce an app already sent is a replayed authorization request."""
    found = session.scalar(
        select(AppAuthorizationCode.id)
        .join(AppConsent, AppConsent.id == AppAuthorizationCode.consent_id)
        .where(AppAuthorizationCode.nonce == nonce, AppConsent.app_id == app.id)
        .limit(1)
    )
    return found is not None


def find_code(session: Session, code: str) -> AppAuthorizationCode | None:
    return session.scalars(
        select(AppAuthorizationCode).where(AppAuthorizationCode.code_hash == digest(code))
    ).first()


def code_replayed(session: Session, row: AppAuthorizationCode) -> None:
    """RFC 6749 §4.1.2: a code used twice revokes the tokens it gave."""
    _revoke_tokens(session, AppToken.code_id == row.id, "code-replayed")


def new_token_values(*, refresh: bool) -> tuple[str, str | None]:
    access = APP_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return access, (REFRESH_PREFIX + secrets.token_urlsafe(32) if refresh else None)


def store_token(
    session: Session,
    consent: AppConsent,
    *,
    access: str,
    refresh: str | None,
    scopes: str,
    expires_in: int,
    code_id: uuid.UUID | None = None,
) -> AppToken:
    now = clock.now()
    row = AppToken(
        consent_id=consent.id,
        code_id=code_id,
        access_hash=digest(access),
        refresh_hash=digest(refresh) if refresh else None,
        scopes=scopes,
        issued_at=now,
        expires_at=now + dt.timedelta(seconds=expires_in),
        refresh_expires_at=now + REFRESH_LIFETIME if refresh else None,
    )
    session.add(row)
    session.flush()
    return row


def find_token(session: Session, value: str, hint: str | None = None) -> AppToken | None:
    """A token row by its access or refresh value (RFC 7009 and 7662 hints are only hints)."""
    hashed = digest(value)
    if hint != "refresh_token":
        found = session.scalars(select(AppToken).where(AppToken.access_hash == hashed)).first()
        if found is not None or hint == "access_token":
            return found
    return session.scalars(select(AppToken).where(AppToken.refresh_hash == hashed)).first()


def revoke_token_row(session: Session, row: AppToken, reason: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        row.revoked_reason = reason[:20]
        session.flush()


def refresh_replayed(session: Session, row: AppToken) -> None:
    """A rotated refresh token used again: someone kept a copy; end the whole consent's tokens."""
    _revoke_tokens(session, AppToken.consent_id == row.consent_id, "refresh-replayed")


def grant_of(consent: AppConsent, app: App, token: AppToken) -> AppGrant:
    return AppGrant(
        consent_id=consent.id,
        token_id=token.id,
        space_id=consent.holder_id,
        granted_by=consent.granted_by,
        scopes=frozenset(token.scopes.split()),
        consented_version=consent.app_version,
        consented_listing=frozenset(consent.listing.split()),
        app_status=app.status,
        app_version=app.version,
        app_listing=frozenset(app.scopes.split()),
    )


def resolve_access_token(session: Session, value: str) -> Principal | None:
    """The app principal behind a live access token (unexpired, unrevoked, consent standing);
    None otherwise (401). Whether the app may act (status, version, scopes) is the decision
    point's, at each request (ACC-9)."""
    if not value.startswith(APP_TOKEN_PREFIX) or len(value) > 100:
        return None
    found = session.execute(
        select(AppToken, AppConsent, App)
        .join(AppConsent, AppConsent.id == AppToken.consent_id)
        .join(App, App.id == AppConsent.app_id)
        .where(AppToken.access_hash == digest(value))
    ).first()
    if found is None:
        return None
    token, consent, app = found
    if token.revoked_at is not None or consent.revoked_at is not None:
        return None
    if token.expires_at <= clock.now():
        return None
    return Principal(PrincipalKind.APP, app.id, app.client_id, grant_of(consent, app, token))


# -- SRV-3 reminders -------------------------------------------------------------------------

REMINDER_SUBJECT = "Carnet : les applications connectées à votre espace"
REMINDER_BODY = """Bonjour,

Voici les applications connectées à votre espace Carnet{managed} :

{lines}

Vous pouvez revoir ce qu'elles voient et les déconnecter à tout moment sur {url}.
Ce rappel vous est envoyé tous les 90 jours.

---
Here are the apps connected to your Carnet space. Review or disconnect them at {url}.
"""


def send_reminders(database: Database, settings: Settings, now: dt.datetime) -> int:
    """SRV-3: every 90 days after a connection (then after each reminder), the holder gets one
    e-mail listing the apps connected to their space and to the spaces they manage. Names of
    apps only, never data."""
    sent = 0
    with database.transaction() as session:
        due = session.scalars(select(AppConsent).where(AppConsent.revoked_at.is_(None))).all()
        recipients: set[uuid.UUID] = set()
        for consent in due:
            if rules.reminder_due(consent.reminded_at, consent.created_at, now):
                recipients.add(consent.granted_by)
        for holder_id in sorted(recipients):
            holder = account_service.holder(session, holder_id)
            if holder is None or not holder.email or holder.state != "active":
                continue
            spaces = [(holder, "self"), *managed_spaces(session, holder.id, settings=settings)]
            lines: list[str] = []
            mine: list[AppConsent] = []
            for space, _relation in spaces:
                for consent, app in session.execute(
                    select(AppConsent, App)
                    .join(App, App.id == AppConsent.app_id)
                    .where(
                        AppConsent.holder_id == space.id,
                        AppConsent.granted_by == holder.id,
                        AppConsent.revoked_at.is_(None),
                    )
                ).all():
                    owner = "" if space.id == holder.id else f" ({display_name(space)})"
                    lines.append(f"- {app.name} – {app.publisher}{owner}")
                    mine.append(consent)
            if not lines:
                continue
            enqueue(
                session,
                kind="apps.reminder",
                recipient=holder.email,
                subject=REMINDER_SUBJECT,
                body_text=REMINDER_BODY.format(
                    managed=" et aux espaces que vous gérez" if len(spaces) > 1 else "",
                    lines="\n".join(lines),
                    url=settings.base_url.rstrip("/") + "/apps",
                ),
                holder_id=holder.id,
            )
            for consent in mine:
                consent.reminded_at = now
            record(session, SYSTEM, "app.reminder", holder_id=holder.id, mode=Mode.SYSTEM)
            sent += 1
    return sent
