"""Issuing, resolving and revoking API bearer tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.models import Holder, Operator, Professional
from carnet.auth.models import ApiToken
from carnet.auth.principal import Principal, PrincipalKind
from carnet.errors import NotFound

TOKEN_PREFIX = "cnt_"  # noqa: S105 - a prefix, not a secret
APP_TOKEN_PREFIX = "cna_"  # noqa: S105 - apps' access tokens (carnet.apps)


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


def resolve_token(session: Session, token: str) -> Principal | None:
    """The principal behind a valid, unexpired, unrevoked token; None otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _hash(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= clock.now():
        return None
    return Principal(PrincipalKind(row.principal_kind), row.principal_id)


def revoke_token(session: Session, token: str) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return bool(getattr(result, "rowcount", 0))


def revoke_all(session: Session, kind: PrincipalKind, principal_id: uuid.UUID) -> int:
    """Log out everywhere: every token of the principal stops working at once."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.principal_kind == kind.value,
            ApiToken.principal_id == principal_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def principal_from_request(request: Request) -> Principal | None:
    """Read `Authorization: Bearer …` and resolve it in a short read-only transaction."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    token = token.strip()
    with request.app.state.database.read_mostly() as session:  # no write lock to resolve a token
        if token.startswith(APP_TOKEN_PREFIX):  # ACC-9: an app's access token
            from carnet.apps.service import resolve_access_token

            return resolve_access_token(session, token)
        return resolve_token(session, token)


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
        holder = session.scalars(select(Holder).where(Holder.nir == holder_nir)).first()
        if holder is None:
            raise NotFound("No holder with this NIR.")
        return Principal(PrincipalKind.HOLDER, holder.id)
    rpps = professional_rpps or regulator_rpps
    if rpps is not None:
        pro = session.scalars(select(Professional).where(Professional.rpps == rpps)).first()
        if pro is None:
            raise NotFound(f"No professional with RPPS {rpps}.")
        if regulator_rpps is not None:
            if not pro.is_regulator:
                raise NotFound(f"Professional {rpps} is not registered as a regulator.")
            return Principal(PrincipalKind.REGULATOR, pro.id)
        return Principal(PrincipalKind.PROFESSIONAL, pro.id)
    if operator_name is not None:
        operator = session.scalars(select(Operator).where(Operator.name == operator_name)).first()
        if operator is None:
            raise NotFound(f"No operator named {operator_name!r}.")
        return Principal(PrincipalKind.OPERATOR, operator.id)
    raise NotFound("No principal given.")
