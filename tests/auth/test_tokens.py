"""API bearer tokens: random, stored hashed, expiring, revocable; `carnet token` for scripts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.auth.models import ApiToken
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import issue_token, resolve_token, revoke_all, revoke_token
from tests.factories import make_holder, make_professional


def test_token_is_stored_only_as_a_hash(session: Session) -> None:
    holder = make_holder(session)
    principal = Principal(PrincipalKind.HOLDER, holder.id)
    token, _row = issue_token(session, principal, ttl=dt.timedelta(minutes=5))
    stored = session.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.label)
    assert len(stored.token_hash) == 64
    assert resolve_token(session, token) == principal
    assert resolve_token(session, token + "x") is None


def test_token_expires(session: Session) -> None:
    pro = make_professional(session)
    principal = Principal(PrincipalKind.PROFESSIONAL, pro.id)
    token, _ = issue_token(session, principal, ttl=dt.timedelta(minutes=5))
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=6)):
        assert resolve_token(session, token) is None
    assert resolve_token(session, token) == principal


def test_token_revocation_one_and_all(session: Session) -> None:
    holder = make_holder(session)
    principal = Principal(PrincipalKind.HOLDER, holder.id)
    first, _ = issue_token(session, principal, ttl=dt.timedelta(hours=1))
    second, _ = issue_token(session, principal, ttl=dt.timedelta(hours=1))
    third, _ = issue_token(session, principal, ttl=dt.timedelta(hours=1))
    assert revoke_token(session, first)
    assert resolve_token(session, first) is None
    assert resolve_token(session, second) == principal
    assert revoke_all(session, PrincipalKind.HOLDER, holder.id) == 2
    assert resolve_token(session, second) is None
    assert resolve_token(session, third) is None


def test_cli_token_for_each_kind(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        holder = make_holder(session)
        pro = make_professional(session)
        regulator = make_professional(session, is_regulator=True)
        nir, rpps, reg_rpps = holder.nir, pro.rpps, regulator.rpps
    assert run_cli("operator", "add", "alice")[0] == 0
    for option, value, kind in (
        ("--holder", nir, PrincipalKind.HOLDER),
        ("--professional", rpps, PrincipalKind.PROFESSIONAL),
        ("--regulator", reg_rpps, PrincipalKind.REGULATOR),
        ("--operator", "alice", PrincipalKind.OPERATOR),
    ):
        status, out, err = run_cli("token", option, value, "--ttl", "10")
        assert status == 0, err
        with database.transaction() as session:
            principal = resolve_token(session, out.strip())
        assert principal is not None and principal.kind == kind


def test_cli_token_unknown_principal_is_refused(run_cli, database) -> None:  # type: ignore[no-untyped-def]
    status, out, err = run_cli("token", "--professional", "10000010010")
    assert status == 1
    assert "No professional with RPPS" in err
    assert out.strip() == ""
    with database.transaction() as session:
        assert session.scalars(select(ApiToken)).first() is None
    status, _out, err = run_cli("token", "--holder", "x", "--operator", "y")
    assert status == 1 and "exactly one" in err
    with database.transaction() as session:
        pro = make_professional(session)
        rpps = pro.rpps
    status, _out, err = run_cli("token", "--regulator", rpps)
    assert status == 1 and "not registered as a regulator" in err


def test_bearer_token_reaches_a_protected_route(app, client, database) -> None:  # type: ignore[no-untyped-def]
    from carnet.access.routes import authenticated

    @app.get("/api/v1/whoami", dependencies=[authenticated(PrincipalKind.HOLDER)])
    def whoami() -> dict[str, str]:
        return {"ok": "yes"}

    with database.transaction() as session:
        holder = make_holder(session)
        pro = make_professional(session)
        holder_token, _ = issue_token(
            session, Principal(PrincipalKind.HOLDER, holder.id), ttl=dt.timedelta(minutes=5)
        )
        pro_token, _ = issue_token(
            session, Principal(PrincipalKind.PROFESSIONAL, pro.id), ttl=dt.timedelta(minutes=5)
        )
    assert client.get("/api/v1/whoami").status_code == 401
    assert client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {pro_token}"}).status_code
        == 403
    )
    ok = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {holder_token}"})
    assert ok.status_code == 200
