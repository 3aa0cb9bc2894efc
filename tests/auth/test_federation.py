"""Federated sign-in (issue 15): holders and professionals sign in through a real OpenID provider
(npm's `oidc-provider`, started on 127.0.0.1), linked by identity traits or RPPS, never by e-mail;
the id_token's signature, issuer, audience, expiry, nonce and level (`acr`) are checked.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import func, select

from carnet.audit.models import AuditEntry
from carnet.auth import federation
from carnet.auth import federation_rules as rules
from carnet.auth.models import FederatedIdentity, FederatedLogin, PortalSession, Throttle
from carnet.config import Settings
from carnet.db import Database
from tests.factories import make_holder, make_professional
from tests.support.oidc import MARIE, PRO_RPPS, RunningProvider, through_provider

ISSUER = "https://provider.example"
CLIENT = "carnet-fc"


@pytest.fixture
def settings(settings: Settings, oidc_provider: RunningProvider) -> Settings:
    """The tests' settings with the provider's two clients: FranceConnect-like for holders, Pro
    Santé Connect-like for professionals."""
    federation.forget_metadata()
    return settings.model_copy(update={"oidc_providers": oidc_provider.providers})


def marie(database: Database, **overrides: Any) -> uuid.UUID:
    """The holder the provider's "marie" is, as Carnet knows her (upper case, no accents)."""
    values: dict[str, Any] = {
        "birth_name": "DUPONT",
        "first_names": "MARIE HELENE LOUISE",
        "birth_date": dt.date(1985, 4, 12),
        "sex": "F",
        "birth_place_insee": "75056",
        "email": "marie@example.org",
        "state": "active",
    }
    values.update(overrides)
    with database.transaction() as session:
        return make_holder(session, **values).id


def links(database: Database) -> list[tuple[str, str, uuid.UUID]]:
    with database.transaction() as session:
        rows = session.scalars(select(FederatedIdentity).order_by(FederatedIdentity.created_at))
        return [(row.provider, row.principal_kind, row.principal_id) for row in rows]


def sessions_of(database: Database, principal_id: uuid.UUID) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(PortalSession)
                .where(PortalSession.principal_id == principal_id)
            )
            or 0
        )


# -- end to end, through the provider ----------------------------------------------------------


def test_holder_is_linked_by_identity_traits_and_signed_in(
    client: TestClient, database: Database
) -> None:
    """Accents, case and hyphens aside, every trait agrees: a portal session opens, the link is
    kept, the login is recorded in her chain (ACC-8); the next sign-in follows the link."""
    holder_id = marie(database)
    answer = client.get(through_provider(client, "fc", "marie"), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/home"
    assert client.get("/home").status_code == 200
    assert links(database) == [("fc", "holder", holder_id)]
    assert sessions_of(database, holder_id) == 1
    with database.transaction() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.chain == f"space:{holder_id}", AuditEntry.action == "auth.login"
            )
        ).one()
        assert entry.reason == "oidc:fc:linked"
        assert entry.target_type == "FederatedIdentity"
    client.cookies.clear()
    again = client.get(through_provider(client, "fc", "marie"), follow_redirects=False)
    assert again.status_code == 303
    assert links(database) == [("fc", "holder", holder_id)]
    assert sessions_of(database, holder_id) == 2


def test_a_signed_userinfo_is_verified_and_read(client: TestClient, database: Database) -> None:
    """FranceConnect answers the userinfo as a JWT signed by its keys: read once verified."""
    holder_id = marie(database)
    answer = client.get(through_provider(client, "fcjwt", "marie"), follow_redirects=False)
    assert answer.status_code == 303
    assert links(database) == [("fcjwt", "holder", holder_id)]


def test_professional_is_linked_by_rpps(client: TestClient, database: Database) -> None:
    with database.transaction() as session:
        pro_id = make_professional(session, rpps=PRO_RPPS, email="martin@example.org").id
    answer = client.get(through_provider(client, "psc", "dr-martin"), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/pro"
    assert links(database) == [("psc", "professional", pro_id)]
    assert client.get("/pro").status_code == 200


def test_the_same_email_links_nobody(client: TestClient, database: Database) -> None:
    """A holder with the same e-mail but other traits is not the provider's person: refused, in
    the person's language, nothing created, the failure counted and recorded."""
    holder_id = marie(database, birth_name="MARTIN")
    answer = client.get(through_provider(client, "fc", "marie"), headers={"Accept-Language": "fr"})
    assert answer.status_code == 403
    assert "Aucun compte Carnet ne correspond" in answer.text
    assert links(database) == []
    assert sessions_of(database, holder_id) == 0
    with database.transaction() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.action == "auth.login-failure", AuditEntry.reason == "oidc:no-match"
                )
            )
            == 1
        )
        assert session.scalar(select(func.count()).select_from(Throttle)) > 0


def test_two_holders_with_the_same_traits_are_both_refused(
    client: TestClient, database: Database
) -> None:
    first, second = marie(database), marie(database)
    answer = client.get(through_provider(client, "fc", "marie"), headers={"Accept-Language": "en"})
    assert answer.status_code == 403
    assert "Several Carnet accounts match" in answer.text
    assert links(database) == []
    assert sessions_of(database, first) + sessions_of(database, second) == 0


def test_a_suspended_space_is_refused_as_the_password_login_refuses_it(
    client: TestClient, database: Database
) -> None:
    holder_id = marie(database, state="suspended")
    answer = client.get(through_provider(client, "fc", "marie"))
    assert answer.status_code == 403
    assert sessions_of(database, holder_id) == 0


def test_too_low_a_level_of_authentication_is_refused(
    client: TestClient, database: Database
) -> None:
    holder_id = marie(database)
    answer = client.get(
        through_provider(client, "fc", "marie", acr="eidas1"), headers={"Accept-Language": "en"}
    )
    assert answer.status_code == 403
    assert "level of security too low" in answer.text
    assert links(database) == []
    assert sessions_of(database, holder_id) == 0


def test_an_answer_is_used_once_and_only_by_the_browser_that_asked(
    client: TestClient, database: Database
) -> None:
    holder_id = marie(database)
    callback = through_provider(client, "fc", "marie")
    started_here = list(client.cookies.jar)
    client.cookies.clear()  # another browser, without the cookie binding the sign-in
    stolen = client.get(callback, headers={"Accept-Language": "en"})
    assert stolen.status_code == 403
    assert "start again" in stolen.text
    for cookie in started_here:
        client.cookies.jar.set_cookie(cookie)
    replayed = client.get(callback)  # the state is used up, even by the stolen try
    assert replayed.status_code == 403
    assert sessions_of(database, holder_id) == 0
    fresh = through_provider(client, "fc", "marie")
    assert client.get(fresh, follow_redirects=False).status_code == 303
    assert client.get(fresh, follow_redirects=False).status_code == 403  # replayed
    assert sessions_of(database, holder_id) == 1


def test_wrong_answers_are_throttled_like_wrong_passwords(
    client: TestClient, app: Any, settings: Settings
) -> None:
    """Each refused answer counts against the client (`auth.throttle`, LOGIN): soon it waits."""
    app.state.settings = settings.model_copy(update={"client_free_failures": 1})
    answers = [client.get(f"/login/oidc/fc/callback?state=guess{n}&code=x") for n in range(3)]
    assert [a.status_code for a in answers[:2]] == [403, 403]
    assert answers[2].status_code == 429
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_an_unreachable_provider_is_said_so(
    client: TestClient, app: Any, settings: Settings, database: Database
) -> None:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = settings.oidc_providers[0].model_copy(update={"issuer": f"http://127.0.0.1:{closed}"})
    app.state.settings = settings.model_copy(update={"oidc_providers": (down,)})
    answer = client.get("/login/oidc/fc", headers={"Accept-Language": "en"})
    assert answer.status_code == 502
    assert "cannot be reached" in answer.text
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FederatedLogin)) == 0


def test_login_pages_offer_one_button_per_provider_of_their_kind(client: TestClient) -> None:
    holder_page = client.get("/login", headers={"Accept-Language": "fr"}).text
    assert "Se connecter avec FranceConnect" in holder_page
    assert "Pro Santé Connect" not in holder_page
    pro_page = client.get("/pro/login", headers={"Accept-Language": "en"}).text
    assert "Sign in with Pro Santé Connect" in pro_page
    assert "FranceConnect" not in pro_page
    assert client.get("/login/oidc/unknown").status_code == 404


# -- the id_token's checks, on tokens forged here ---------------------------------------------


@pytest.fixture(scope="module")
def provider_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "provider-key"})


def forged(key: RSAKey, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "abc",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": "the-nonce",
        "acr": "eidas2",
    }
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": "provider-key"}, claims, key)


def verify(token: str, key: RSAKey) -> dict[str, Any]:
    return federation.verify_id_token(
        token,
        KeySet([key]).as_dict(private=False),
        issuer=ISSUER,
        client_id=CLIENT,
        nonce="the-nonce",
        acr_values=("eidas2", "eidas3"),
        algorithms=rules.signing_algorithms(None),
    )


def test_a_well_signed_token_is_accepted(provider_key: RSAKey) -> None:
    assert verify(forged(provider_key), provider_key)["sub"] == "abc"


@pytest.mark.parametrize(
    ("why", "changes", "code"),
    [
        ("wrong nonce", {"nonce": "another"}, "bad-token"),
        ("no nonce", {"nonce": None}, "bad-token"),
        ("wrong audience", {"aud": "another-client"}, "bad-token"),
        ("wrong issuer", {"iss": "https://elsewhere.example"}, "bad-token"),
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "bad-token"),
        ("acr too low", {"acr": "eidas1"}, "acr-too-low"),
        ("no acr", {"acr": None}, "acr-too-low"),
    ],
)
def test_a_token_failing_a_check_is_refused(
    provider_key: RSAKey, why: str, changes: dict[str, Any], code: str
) -> None:
    changes = {k: v for k, v in changes.items() if v is not None}
    token = forged(provider_key, **changes)
    if why in ("no nonce", "no acr"):
        claim = "nonce" if why == "no nonce" else "acr"
        token = jwt.encode(
            {"alg": "RS256", "kid": "provider-key"},
            {k: v for k, v in jwt.decode(token, provider_key).claims.items() if k != claim},
            provider_key,
        )
    with pytest.raises(federation.FederationRefused) as refused:
        verify(token, provider_key)
    assert refused.value.code == code, why


def test_a_token_signed_by_another_key_is_refused(provider_key: RSAKey) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "provider-key"})
    with pytest.raises(federation.FederationRefused) as refused:
        verify(forged(impostor), provider_key)
    assert refused.value.code == "bad-token"


def test_an_unsigned_or_symmetric_token_is_refused(provider_key: RSAKey) -> None:
    from joserfc.jwk import OctKey

    secret = OctKey.generate_key(256, parameters={"kid": "provider-key"})
    token = jwt.encode({"alg": "HS256", "kid": "provider-key"}, {"sub": "abc"}, secret)
    with pytest.raises(federation.FederationRefused):
        verify(token, provider_key)


# -- the linking rules ------------------------------------------------------------------------


def test_names_are_compared_without_accents_case_or_hyphens() -> None:
    assert rules.normalize_name("Marie-Hélène  d'Arc") == rules.normalize_name("MARIE HELENE D ARC")


def test_traits_need_every_claim_and_a_known_birth_place() -> None:
    provider = rules.traits_from_claims(MARIE)
    holder = rules.holder_traits(
        "DUPONT", "MARIE HELENE LOUISE", dt.date(1985, 4, 12), "F", "75056"
    )
    assert rules.same_person(provider, holder)
    assert not rules.same_person(
        provider, holder.__class__(**{**holder.__dict__, "given_names": "MARIE"})
    )
    assert not rules.same_person(
        provider, holder.__class__(**{**holder.__dict__, "birth_place": ""})
    )
    born_abroad = rules.traits_from_claims({**MARIE, "birthplace": "", "birthcountry": "99134"})
    assert born_abroad.birth_place == "99134"
    with pytest.raises(rules.ClaimsProblem):
        rules.traits_from_claims({k: v for k, v in MARIE.items() if k != "birthdate"})


def test_rpps_is_read_bare_or_as_the_national_identifier() -> None:
    assert rules.rpps_from_claim(PRO_RPPS) == PRO_RPPS
    assert rules.rpps_from_claim(f"8{PRO_RPPS}") == PRO_RPPS
    assert rules.rpps_from_claim(f"0{PRO_RPPS}") is None
    assert rules.rpps_from_claim(PRO_RPPS[:-1] + str((int(PRO_RPPS[-1]) + 1) % 10)) is None
    assert rules.rpps_from_claim(None) is None


def test_only_asymmetric_signatures_are_trusted() -> None:
    assert rules.signing_algorithms(["HS256", "RS256", "none"]) == ["RS256"]
    assert rules.signing_algorithms(None) == ["RS256"]
