"""Issuing, resolving and revoking API bearer tokens; ending access everywhere (`end_access`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import sign_in_lasts
from carnet.accounts.rules import as_nir
from carnet.accounts.service import HOLDER, holder_by_nir, operator_by_name, professional_by_rpps
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth import sessions as portal_sessions
from carnet.auth.models import ApiToken, LoginChallenge
from carnet.auth.principal import SYSTEM, Principal, PrincipalKind
from carnet.auth.rules import APP_TOKEN_PREFIX, TOKEN_PREFIX
from carnet.db import Preload, keep_preloaded
from carnet.db import preload as db_preload
from carnet.errors import NotFound

if TYPE_CHECKING:  # only read here: the command line resolves principals without the web stack
    from fastapi import Request


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session, principal: Principal, *, ttl: dt.timedelta, label: str = ""
) -> tuple[str, ApiToken]:
    """A new token for `principal`; the clear token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=_hash(token),
        principal_kind=principal.kind.value,
        principal_id=principal.id,
        label=label,
        expires_at=clock.now() + ttl,
    )
    session.add(row)
    session.flush()
    return token, row


def resolve_token(
    session: Session, token: str, *, preload: Sequence[Preload] = ()
) -> Principal | None:
    """The principal behind a valid, unexpired, unrevoked token; None otherwise.

    A holder's token also needs their space to be active (`access.rules.sign_in_lasts`, LC-5,
    LC-6): the holder comes with the token in the same statement, and with it whatever the
    `preload` parts of other domains join on the holder's own space (issue 13: who acts on
    which space is resolved once, with the token)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    parts = (HOLDER, *preload)
    own_space = case((ApiToken.principal_kind == PrincipalKind.HOLDER.value, ApiToken.principal_id))
    found = session.execute(
        db_preload(select(ApiToken).where(ApiToken.token_hash == _hash(token)), own_space, parts)
    ).first()
    if found is None:
        return None
    row, holder = found[0], found[1]
    if row.revoked_at is not None or row.expires_at <= clock.now():
        return None
    if not sign_in_lasts(row.principal_kind, holder.state if holder is not None else None):
        return None
    keep_preloaded(session, found, holder.id if holder is not None else None, parts)
    return Principal(PrincipalKind(row.principal_kind), row.principal_id)


def revoke_token(session: Session, token: str) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return bool(getattr(result, "rowcount", 0))


def revoke_all(
    session: Session, kind: PrincipalKind, principal_id: uuid.UUID, *, keep: str | None = None
) -> int:
    """Log out everywhere: every token of the principal stops working at once (but `keep`, the
    clear token of the request that asks, when given)."""
    query = update(ApiToken).where(
        ApiToken.principal_kind == kind.value,
        ApiToken.principal_id == principal_id,
        ApiToken.revoked_at.is_(None),
    )
    if keep is not None:
        query = query.where(ApiToken.token_hash != _hash(keep))
    result = session.execute(query.values(revoked_at=clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def live_token_count(session: Session, principal: Principal) -> int:
    """How many API tokens of the principal still work (for the list of their sessions)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(
                ApiToken.principal_kind == principal.kind.value,
                ApiToken.principal_id == principal.id,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > clock.now(),
            )
        )
        or 0
    )


def bearer_token(request: Request) -> str | None:
    """The clear token of `Authorization: Bearer …`, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_from_request(
    request: Request, session: Session, *, preload: Sequence[Preload] = ()
) -> Principal | None:
    """Read `Authorization: Bearer …` and resolve it in the request's unit of work (`session`)."""
    token = bearer_token(request)
    if token is None:
        return None
    if token.startswith(APP_TOKEN_PREFIX):  # ACC-9: an app's access token
        from carnet.apps.service import resolve_access_token

        return resolve_access_token(session, token)
    return resolve_token(session, token, preload=preload)


@dataclass(frozen=True)
class EndedAccess:
    """What `end_access` ended: counts only, for the audit entry (ACC-8) and the caller."""

    tokens: int = 0
    portal_sessions: int = 0
    profiles_left: int = 0  # portal sessions no longer acting on the space (their own stays)
    app_consents: int = 0
    login_challenges: int = 0

    def summary(self, reason: str) -> str:
        """The audit reason: a short code and the counts, never data (fits the 64 characters)."""
        return (
            f"{reason[:24]};t={self.tokens};s={self.portal_sessions};p={self.profiles_left};"
            f"a={self.app_consents};c={self.login_challenges}"
        )[:64]


def end_access(
    session: Session,
    *,
    reason: str,
    space: uuid.UUID | None = None,
    principal: Principal | None = None,
    relation: tuple[uuid.UUID, uuid.UUID] | None = None,
    keep_token: str | None = None,
    keep_session: uuid.UUID | None = None,
    actor: Principal = SYSTEM,
    mode: Mode = Mode.SYSTEM,
    request_id: str | None = None,
) -> EndedAccess:
    """End access at once and everywhere, for exactly one of three targets (ACC-8: audited with
    the counts, when anything was open):

    - `space` (a holder's space is suspended, closed, purged, or its holder died: LC-5, LC-6,
      LC-8): every API token, portal session and pending login challenge of its holder; every
      app consent on that space, and every one its holder gave on a space they act for; every
      other person's portal session acting on it goes back to their own space.
    - `principal` (a password change): every API token, portal session and pending login
      challenge of that principal, and the app consents they gave, except the credential of the
      request that asks (`keep_token`, `keep_session`). Carnet decision: an app connected with a
      stolen password must not outlive the new one; the holder connects again the apps they want.
    - `relation` = (person, space) (a caregiver revoked, a guardianship ended, majority: REP-3,
      REP-4, REP-5): the person's portal sessions acting on that space go back to their own
      space, and the apps they connected on it are disconnected. Their credentials stay: they
      keep working for their own space, and whether they reach the other space is decided at
      each request from the relation rows (`accounts.family.manages`), which no longer hold.

    Nothing here decides whether access should end; the lifecycle and family services do, then
    call this one function.
    """
    from carnet.apps import service as apps  # apps -> accounts.family -> lifecycle -> here

    if sum(target is not None for target in (space, principal, relation)) != 1:
        raise ValueError("end_access needs exactly one of space, principal or relation")
    holder_id: uuid.UUID | None
    if relation is not None:
        person, holder_id = relation
        ended = EndedAccess(
            profiles_left=portal_sessions.leave_space(session, relation[1], principal_id=person),
            app_consents=apps.end_consents(
                session, space_id=relation[1], granted_by=person, reason=reason
            ),
        )
        target = ("Relation", f"holder/{person}")
    elif space is not None:
        holder_id = space
        own = _end_credentials(session, Principal(PrincipalKind.HOLDER, space), reason)
        ended = replace(
            own,
            profiles_left=portal_sessions.leave_space(session, space),
            app_consents=own.app_consents
            + apps.end_consents(session, space_id=space, reason=reason),
        )
        target = ("Space", str(space))
    else:
        assert principal is not None
        holder_id = principal.id if principal.kind is PrincipalKind.HOLDER else None
        ended = _end_credentials(
            session, principal, reason, keep_token=keep_token, keep_session=keep_session
        )
        target = ("Account", principal.ref)
    if ended == EndedAccess():
        return ended  # nothing was open: no entry (the cause has its own)
    record(
        session,
        actor,
        "auth.access-ended",
        holder_id=holder_id,
        target_type=target[0],
        target_id=target[1],
        mode=mode,
        reason=ended.summary(reason),
        request_id=request_id,
    )
    return ended


def _end_credentials(
    session: Session,
    principal: Principal,
    reason: str,
    *,
    keep_token: str | None = None,
    keep_session: uuid.UUID | None = None,
) -> EndedAccess:
    """Everything a principal signs in with, and the app consents a holder gave."""
    from carnet.apps import service as apps

    consents = 0
    if principal.kind is PrincipalKind.HOLDER:
        consents = apps.end_consents(session, granted_by=principal.id, reason=reason)
    return EndedAccess(
        tokens=revoke_all(session, principal.kind, principal.id, keep=keep_token),
        portal_sessions=portal_sessions.revoke_all(session, principal, keep=keep_session),
        app_consents=consents,
        login_challenges=end_login_challenges(session, principal),
    )


def end_login_challenges(session: Session, principal: Principal) -> int:
    """A login started before access ended cannot be finished with its e-mailed code."""
    result = session.execute(
        delete(LoginChallenge).where(
            LoginChallenge.principal_kind == principal.kind.value,
            LoginChallenge.principal_id == principal.id,
            LoginChallenge.used_at.is_(None),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def forget_credentials(session: Session, principal_id: uuid.UUID) -> None:
    """LC-8: a purged space leaves no sign-in material behind. Login challenges and API tokens
    point at their principal without a foreign key, so the purge deletes them here (already
    ended by `end_access`; portal sessions go with the holder row's cascade)."""
    session.execute(delete(LoginChallenge).where(LoginChallenge.principal_id == principal_id))
    session.execute(delete(ApiToken).where(ApiToken.principal_id == principal_id))


def find_principal(
    session: Session,
    *,
    holder_nir: str | None = None,
    professional_rpps: str | None = None,
    regulator_rpps: str | None = None,
    operator_name: str | None = None,
) -> Principal:
    """Look a principal up by its public identifier; NotFound with a clear message otherwise."""
    if holder_nir is not None:
        holder = holder_by_nir(session, nir) if (nir := as_nir(holder_nir)) else None
        if holder is None:
            raise NotFound("No holder with this NIR.")
        return Principal(PrincipalKind.HOLDER, holder.id)
    rpps = professional_rpps or regulator_rpps
    if rpps is not None:
        pro = professional_by_rpps(session, rpps)
        if pro is None:
            raise NotFound(f"No professional with RPPS {rpps}.")
        if regulator_rpps is not None:
            if not pro.is_regulator:
                raise NotFound(f"Professional {rpps} is not registered as a regulator.")
            return Principal(PrincipalKind.REGULATOR, pro.id)
        return Principal(PrincipalKind.PROFESSIONAL, pro.id)
    if operator_name is not None:
        operator = operator_by_name(session, operator_name)
        if operator is None:
            raise NotFound(f"No operator named {operator_name!r}.")
        return Principal(PrincipalKind.OPERATOR, operator.id)
    raise NotFound("No principal given.")
