"""Server-side portal sessions: a random cookie, a `PortalSession` row, an idle timeout.

The cookie (`carnet_session`) is HttpOnly, SameSite=Lax, Secure when the public URL is https, and
carries 256 random bits; the row keeps only its SHA-256. A session ends after 15 minutes without a
request (idle timeout), 12 hours after the login in any case, at logout, or when the principal logs
out everywhere (every session and every API token of the principal is revoked, ACC-8 audited by
`auth.login.logout_everywhere`), or when access ends (`auth.service.end_access`: the space is
suspended, closed or purged, the password changes; a relation's end sends the sessions acting on
that space back to their own). A new session, with a new CSRF token, is made at every login, so a
session id planted before the login is worth nothing.

The row keeps a coarse device ("Firefox, Linux", `auth.rules.device_of`) so that the holder can
recognise their sessions in "Mon compte" (`live_rows`) and end one (`revoke_own`: only their own).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from carnet import clock
from carnet.access.rules import sign_in_lasts
from carnet.accounts import service as account_service
from carnet.auth.models import PortalSession
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.rules import device_of
from carnet.config import Settings
from carnet.db import Preload, keep_preloaded
from carnet.db import preload as db_preload

SESSION_COOKIE = "carnet_session"
IDLE_TIMEOUT = dt.timedelta(minutes=15)
MAX_LIFETIME = dt.timedelta(hours=12)
MAX_NONCES = 20
TOUCH_AFTER = dt.timedelta(seconds=60)
_STATE_KEY = "portal_live_session"


@dataclass(frozen=True)
class LiveSession:
    """What a request needs to know about its session (a detached copy of the row)."""

    id: uuid.UUID
    principal: Principal
    acting_space_id: uuid.UUID
    csrf_token: str
    flash: str | None
    signed_in_at: dt.datetime | None = None  # OpenID Connect `auth_time` of apps' id_tokens


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def create(
    session: Session, principal: Principal, *, user_agent: str = ""
) -> tuple[str, PortalSession]:
    """A new session for `principal`, acting on their own space; the cookie value is returned once.
    The browser's `user_agent` is kept only as a coarse device (`auth.rules.device_of`)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    row = PortalSession(
        token_hash=_hash(token),
        principal_kind=principal.kind.value,
        principal_id=principal.id,
        holder_id=principal.id if principal.kind is PrincipalKind.HOLDER else None,
        acting_space_id=principal.id if principal.kind is PrincipalKind.HOLDER else None,
        csrf_token=secrets.token_urlsafe(32),
        used_nonces="",
        device=device_of(user_agent[:500]),
        created_at=now,
        last_seen_at=now,
        expires_at=now + MAX_LIFETIME,
    )
    session.add(row)
    session.flush()
    return token, row


def find(
    session: Session, token: str, *, touch: bool = True, preload: Sequence[Preload] = ()
) -> PortalSession | None:
    """The live session of this cookie value, its idle clock restarted; None when there is none.

    One statement: the row, its holder (a holder's session lasts only while their space is
    active, as `access.rules.sign_in_lasts` decides for every sign-in) and the `preload` parts on
    the space it acts on. The idle clock is written only when it is `TOUCH_AFTER` old, so a
    page read does not write (the idle timeout is kept to within that much)."""
    if not token or len(token) > 100:
        return None
    acting = func.coalesce(PortalSession.acting_space_id, PortalSession.holder_id)
    statement = db_preload(
        db_preload(
            select(PortalSession).where(PortalSession.token_hash == _hash(token)),
            PortalSession.holder_id,
            (account_service.HOLDER,),
        ),
        acting,
        preload,
    )
    found = session.execute(statement).first()
    if found is None:
        return None
    row: PortalSession = found[0]
    holder = found[1]
    now = clock.now()
    if row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + IDLE_TIMEOUT <= now:
        row.revoked_at = now  # idle timeout: the session is over for good
        return None
    if row.principal_kind == PrincipalKind.HOLDER.value and not sign_in_lasts(
        row.principal_kind, holder.state if holder is not None else None
    ):
        row.revoked_at = now
        return None
    keep_preloaded(session, found[:2], row.holder_id, (account_service.HOLDER,))
    keep_preloaded(session, found[2:], row.acting_space_id or row.holder_id, preload)
    if touch and row.last_seen_at + TOUCH_AFTER <= now:
        row.last_seen_at = now
    return row


def live(row: PortalSession) -> LiveSession:
    kind = PrincipalKind(row.principal_kind)
    return LiveSession(
        id=row.id,
        principal=Principal(kind, row.principal_id),
        acting_space_id=row.acting_space_id or row.principal_id,
        csrf_token=row.csrf_token,
        flash=row.flash,
        signed_in_at=row.created_at,
    )


def current(
    request: Request, session: Session | None = None, *, preload: Sequence[Preload] = ()
) -> LiveSession | None:
    """The request's live session, looked up once per request: in the request's unit of work
    (`session`) when the route's access rule has one, with what `preload` joins on the space the
    session acts on (issue 13); otherwise in a short transaction of its own (a form's CSRF check
    runs before the unit of work exists).

    A flash message is handed over once: reading it clears it.
    """
    cached: LiveSession | bool | None = getattr(request.state, _STATE_KEY, False)
    if cached is not False:
        return cached if isinstance(cached, LiveSession) else None
    token = request.cookies.get(SESSION_COOKIE, "")
    found: LiveSession | None = None
    if token:
        if session is not None:
            found = _take(session, token, preload)
        else:
            with request.app.state.database.transaction() as own:
                found = _take(own, token, ())
    setattr(request.state, _STATE_KEY, found)
    return found


def _take(session: Session, token: str, preload: Sequence[Preload]) -> LiveSession | None:
    row = find(session, token, preload=preload)
    if row is None:
        return None
    found = live(row)
    if row.flash is not None:
        row.flash = None
    return found


def forget(request: Request) -> None:
    """Drop the cached lookup (after a login or a logout within the same request)."""
    setattr(request.state, _STATE_KEY, False)


def get_row(session: Session, live_session: LiveSession) -> PortalSession:
    row = session.get(PortalSession, live_session.id)
    if row is None:  # pragma: no cover - purged within the request
        raise LookupError("portal session vanished")
    return row


def set_acting_space(session: Session, live_session: LiveSession, space_id: uuid.UUID) -> None:
    get_row(session, live_session).acting_space_id = space_id


def set_flash(session: Session, live_session: LiveSession, key: str) -> None:
    get_row(session, live_session).flash = key[:60]


def use_nonce(session: Session, live_session: LiveSession, nonce: str) -> bool:
    """Record a one-time form nonce; False when it was used already (a double submission)."""
    if not nonce or len(nonce) > 32 or not nonce.replace("-", "").replace("_", "").isalnum():
        return True  # no usable nonce: nothing to deduplicate against
    row = session.scalars(
        select(PortalSession)
        .where(PortalSession.id == live_session.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    used = row.used_nonces.split() if row.used_nonces else []
    if nonce in used:
        return False
    row.used_nonces = " ".join([*used[-(MAX_NONCES - 1) :], nonce])
    return True


def live_rows(session: Session, principal: Principal) -> list[PortalSession]:
    """The principal's sessions still open (not ended, not past their lifetime or idle timeout),
    the most recently used first: what "Mon compte" lists as their devices."""
    now = clock.now()
    return list(
        session.scalars(
            select(PortalSession)
            .where(
                PortalSession.principal_kind == principal.kind.value,
                PortalSession.principal_id == principal.id,
                PortalSession.revoked_at.is_(None),
                PortalSession.expires_at > now,
                PortalSession.last_seen_at > now - IDLE_TIMEOUT,
            )
            .order_by(PortalSession.last_seen_at.desc(), PortalSession.id)
        )
    )


def revoke_own(session: Session, principal: Principal, session_id: uuid.UUID) -> bool:
    """End one session of `principal`'s (a device they no longer use); False when no such open
    session is theirs, so that nobody ends another person's session by its id."""
    result = session.execute(
        update(PortalSession)
        .where(
            PortalSession.id == session_id,
            PortalSession.principal_kind == principal.kind.value,
            PortalSession.principal_id == principal.id,
            PortalSession.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )
    return bool(getattr(result, "rowcount", 0))


def revoke(session: Session, session_id: uuid.UUID) -> None:
    session.execute(
        update(PortalSession)
        .where(PortalSession.id == session_id, PortalSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def revoke_all(session: Session, principal: Principal, *, keep: uuid.UUID | None = None) -> int:
    """Log out everywhere (portal side): every session of the principal ends at once (but
    `keep`, the session of the request that asks, when given)."""
    query = update(PortalSession).where(
        PortalSession.principal_kind == principal.kind.value,
        PortalSession.principal_id == principal.id,
        PortalSession.revoked_at.is_(None),
    )
    if keep is not None:
        query = query.where(PortalSession.id != keep)
    result = session.execute(query.values(revoked_at=clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def leave_space(
    session: Session, space_id: uuid.UUID, *, principal_id: uuid.UUID | None = None
) -> int:
    """Live sessions acting on `space_id` (of `principal_id` only, when given) go back to their
    principal's own space, holders with the "profile-reset" message: the profile a session
    remembers never outlives the relation or the space it was chosen under (REP-3, REP-4, REP-5,
    LC-6). Their own space, or none for a professional, stays. Returns how many."""
    live_rows = and_(
        PortalSession.acting_space_id == space_id,
        PortalSession.principal_id != space_id,
        PortalSession.revoked_at.is_(None),
    )
    if principal_id is not None:
        live_rows = and_(live_rows, PortalSession.principal_id == principal_id)
    holders = PortalSession.principal_kind == PrincipalKind.HOLDER.value
    session.execute(update(PortalSession).where(live_rows, holders).values(flash="profile-reset"))
    result = session.execute(update(PortalSession).where(live_rows).values(acting_space_id=None))
    return int(getattr(result, "rowcount", 0) or 0)


def set_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(MAX_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(settings),
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(settings)
    )
