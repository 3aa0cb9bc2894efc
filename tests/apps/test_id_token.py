"""OpenID Connect for apps (SMART `sso-openid-connect`): with `openid`, the token answer carries an
RS256 id_token that an app checks with the keys at `jwks_uri`; it names the approving person (`sub`,
`fhirUser`), echoes the request's nonce, and a nonce used twice is refused."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, RSAKey

from carnet.apps import id_tokens
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import ConfigurationError
from tests.apps.support import add_app, authorize_query, consent, exchange, pkce
from tests.portal.support import log_in, make_account

OPENID = "openid fhirUser launch/patient patient/DocumentReference.rs"


def _token(client: TestClient, scope: str, nonce: str | None = "n-0S6_WzA2Mj") -> dict[str, str]:
    verifier, challenge = pkce()
    back = consent(client, authorize_query(challenge, scope, nonce=nonce))
    answer = exchange(client, back["code"][0], verifier)
    assert answer.status_code == 200, answer.text
    token: dict[str, str] = answer.json()
    return token


def _claims(client: TestClient, id_token: str) -> dict[str, object]:
    """What an app does: fetch the discovery document, then the JWK Set, then check the token."""
    discovery = client.get("/.well-known/openid-configuration").json()
    keys = KeySet.import_key_set(client.get(urlsplit(discovery["jwks_uri"]).path).json())
    decoded = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"]
    return dict(decoded.claims)


def test_an_app_asking_openid_gets_an_id_token_naming_who_approved(
    client: TestClient, database: Database, settings: Settings
) -> None:
    add_app(database)
    holder = make_account(database)
    log_in(client, database)
    token = _token(client, OPENID)
    claims = _claims(client, token["id_token"])
    assert claims["iss"] == settings.base_url.rstrip("/")
    assert claims["aud"] == "mon-suivi"
    assert claims["sub"] == str(holder.id)
    assert claims["fhirUser"] == f"{settings.base_url.rstrip('/')}/fhir/Patient/{holder.id}"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] > claims["iat"]
    assert isinstance(claims["auth_time"], int) and claims["auth_time"] <= claims["iat"]
    # at_hash binds the id_token to the access token given with it (OpenID Connect Core §3.1.3.6)
    digest = hashlib.sha256(token["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    # identifiers only: no name, no birth date
    assert not {"name", "family_name", "given_name", "birthdate", "email"} & set(claims)
    # the FHIR user it names is readable with the access token the app got
    fhir_user = str(claims["fhirUser"])
    read = client.get(
        urlsplit(fhir_user).path, headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert read.status_code in (200, 403)  # the app was granted DocumentReference only


def test_without_openid_no_id_token_and_without_fhiruser_no_fhiruser_claim(
    client: TestClient, database: Database
) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    assert "id_token" not in _token(client, "launch/patient patient/DocumentReference.rs")
    claims = _claims(
        client, _token(client, "openid patient/DocumentReference.rs", "n-2")["id_token"]
    )
    assert "fhirUser" not in claims and claims["nonce"] == "n-2"


def test_a_nonce_the_app_already_used_is_refused_as_a_replay(
    client: TestClient, database: Database
) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    _token(client, OPENID, nonce="once-only")
    _verifier, challenge = pkce()
    answer = client.get(
        authorize_query(challenge, OPENID, nonce="once-only"), follow_redirects=False
    )
    assert answer.status_code in (302, 303, 307)
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["error"] == ["invalid_request"] and back["state"] == ["xyz-state"]


def test_a_token_signed_by_another_key_does_not_verify_against_the_published_set(
    client: TestClient, database: Database
) -> None:
    add_app(database)
    make_account(database)
    log_in(client, database)
    claims = _claims(client, _token(client, OPENID)["id_token"])
    published = client.get("/oauth/jwks").json()
    stranger = RSAKey.generate_key(2048, {"kid": published["keys"][0]["kid"]})
    forged = jwt.encode({"alg": "RS256", "kid": stranger.kid}, claims, stranger)
    keys = KeySet.import_key_set(published)
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["RS256"])


def test_discovery_advertises_openid_connect(client: TestClient) -> None:
    smart = client.get("/.well-known/smart-configuration").json()
    assert "sso-openid-connect" in smart["capabilities"]
    assert smart["jwks_uri"].endswith("/oauth/jwks")
    assert smart["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = client.get("/oauth/jwks").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_the_signing_key_is_a_private_file_generated_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = id_tokens.signing_key(settings)
    path = settings.effective_id_token_signing_key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert id_tokens.jwks(Settings(data_dir=tmp_path))["keys"][0]["kid"] == first.kid
    path.chmod(0o644)
    id_tokens._key_of.cache_clear()
    with pytest.raises(ConfigurationError):
        id_tokens.signing_key(settings)
