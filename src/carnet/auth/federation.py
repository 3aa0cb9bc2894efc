"""Federated sign-in: holders and professionals sign in through an OpenID Connect provider
(FranceConnect, Pro Santé Connect) beside the password.

The provider did the strong authentication, and says how strong in the id_token's `acr`: a
sign-in whose `acr` is not among the provider's configured `acr_values` is refused, and one that
is accepted opens a portal session at once, without the e-mailed code of `auth.login`.

The flow is the authorization code with PKCE (S256):
- `begin` keeps a `FederatedLogin` row (the `state` as a hash, the browser it was started from as
  the hash of a random cookie, the `nonce`, the PKCE verifier) for `oidc_state_minutes`, and
  answers the provider's authorization URL;
- `finish` takes the row back once (single use, even when the answer is refused), exchanges the
  code, verifies the id_token (`verify_id_token`: signature against the provider's published keys,
  `iss`, `aud`, `exp`, `nonce`, `acr`), reads the userinfo, then finds the account: by an earlier
  link (`FederatedIdentity`), else by the rules of `auth.federation_rules` (identity traits for
  holders, RPPS for professionals, never e-mail). A first sign-in stores the link; no match or
  several matches refuse, and nothing is created.
Refusals count as failed logins (`auth.throttle`, scope LOGIN: per client and for everyone) and
are recorded as such (ACC-8); a suspended or closed space is refused as the password login
refuses it. Nothing the provider says about the person is logged or kept but the link.

JWT and JWKS handling is Authlib's (its OAuth 2 client for the code exchange and userinfo, its
OpenID claims checks on joserfc's signature verification).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts.service import holders_born_on, professional_by_rpps
from carnet.audit.service import record
from carnet.auth import federation_rules as rules
from carnet.auth import login, throttle
from carnet.auth.models import FederatedIdentity, FederatedLogin
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import OidcProvider, Settings
from carnet.db import new_id
from carnet.errors import CarnetError
from carnet.vault.service import Vault

with warnings.catch_warnings():
    # Authlib 1.9 announces it will move its httpx client to the httpx2 fork; httpx is what Carnet
    # ships, and the pinned Authlib serves it: the notice would only be noise at every start.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

CALLBACK_PATH = "/login/oidc/{name}/callback"
METADATA_TTL = 3600.0  # seconds a provider's discovery document and keys are kept
HTTP_TIMEOUT = 10.0
LEEWAY = 60  # seconds of clock difference tolerated on exp/iat
KINDS = {"holder": PrincipalKind.HOLDER, "professional": PrincipalKind.PROFESSIONAL}


class FederationRefused(CarnetError):
    """A federated sign-in that does not open a session; `code` says why (the portal words it)."""

    code = "oidc-refused"
    status_code = 403


def redirect_uri(settings: Settings, provider: OidcProvider) -> str:
    return settings.base_url + CALLBACK_PATH.format(name=provider.name)


def kind_of(provider: OidcProvider) -> PrincipalKind:
    return KINDS[provider.kind]


# -- the provider's metadata, fetched and kept ----------------------------------------------------


@dataclass
class _Kept:
    fetched: float
    document: dict[str, Any]


_cache: dict[str, _Kept] = {}
_cache_lock = threading.Lock()


def _get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def _kept(url: str, *, force: bool = False) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        kept = _cache.get(url)
    if kept is not None and not force and now - kept.fetched < METADATA_TTL:
        return kept.document
    document = _get_json(url)
    with _cache_lock:
        _cache[url] = _Kept(now, document)
    return document


def forget_metadata() -> None:
    """Fetch every provider's metadata again at next use (a provider restarted, tests)."""
    with _cache_lock:
        _cache.clear()


def metadata(provider: OidcProvider) -> dict[str, Any]:
    """The provider's discovery document, whose `issuer` must be the configured one (OpenID
    Connect Discovery: otherwise anyone serving the document could speak for the provider)."""
    document = _kept(provider.effective_discovery_url)
    if str(document.get("issuer", "")).rstrip("/") != provider.issuer:
        raise ValueError("the discovery document names another issuer")
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(field), str):
            raise ValueError(f"the discovery document has no {field}")
    return document


def key_set(document: Mapping[str, Any], *, force: bool = False) -> dict[str, Any]:
    return _kept(str(document["jwks_uri"]), force=force)


# -- verifying the id_token -------------------------------------------------------------------


def verify_id_token(
    id_token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    acr_values: tuple[str, ...],
    algorithms: list[str],
    access_token: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The id_token's claims once its signature (by a key of `jwks`, with one of `algorithms`),
    issuer, audience, expiry, nonce, `at_hash` and level of authentication are checked;
    `FederationRefused` ("bad-token" or "acr-too-low") otherwise."""
    try:
        token = jwt.decode(
            id_token,
            KeySet.import_key_set(dict(jwks)),  # type: ignore[arg-type]
            algorithms=algorithms,
            registry=JWSRegistry(algorithms=algorithms),
        )
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": access_token},
        )
        claims.validate(now=now if now is not None else int(clock.now().timestamp()), leeway=LEEWAY)
    except (JoseError, ValueError, TypeError) as exc:
        raise FederationRefused(
            f"The provider's identity token was refused ({type(exc).__name__}).", code="bad-token"
        ) from None
    if not rules.acr_accepted(claims.get("acr"), acr_values):
        raise FederationRefused(
            "The provider's level of authentication is not enough for Carnet.", code="acr-too-low"
        )
    return dict(claims)


# -- the two steps ----------------------------------------------------------------------------


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _client(settings: Settings, provider: OidcProvider) -> OAuth2Client:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret.get_secret_value(),
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri(settings, provider),
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
    )


def begin(session: Session, settings: Settings, provider: OidcProvider, *, browser: str) -> str:
    """Start a sign-in at `provider` from the browser holding the random `browser` value: the
    authorization URL to send it to. Sign-ins left unfinished past their time are forgotten."""
    document = metadata(provider)
    now = clock.now()
    session.execute(delete(FederatedLogin).where(FederatedLogin.expires_at <= now))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43 to 128
    session.add(
        FederatedLogin(
            id=new_id(),
            state_hash=_hash(state),
            browser_hash=_hash(browser),
            provider=provider.name,
            nonce=nonce,
            code_verifier=verifier,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=settings.oidc_state_minutes),
        )
    )
    session.flush()
    with _client(settings, provider) as client:
        url, _state = client.create_authorization_url(
            document["authorization_endpoint"],
            state=state,
            code_verifier=verifier,
            nonce=nonce,
            acr_values=" ".join(provider.acr_values),
        )
    return str(url)


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    link_id: uuid.UUID
    first_time: bool


def _refused(code: str, message: str) -> FederationRefused:
    return FederationRefused(message, code=code)


def _take_login(
    session: Session, provider: OidcProvider, state: str, browser: str
) -> FederatedLogin:
    """The sign-in this answer belongs to, used up now: unknown, used, expired, started from
    another browser or for another provider, it is refused ("bad-state")."""
    row = session.scalars(
        select(FederatedLogin).where(FederatedLogin.state_hash == _hash(state)).with_for_update()
    ).first()
    stale = (
        row is None
        or row.used_at is not None
        or row.expires_at <= clock.now()
        or row.provider != provider.name
        or not secrets.compare_digest(row.browser_hash, _hash(browser))
    )
    if row is not None:
        row.used_at = clock.now()
    if stale:
        raise _refused("bad-state", "This sign-in is unknown, used or expired: start again.")
    assert row is not None
    return row


def _claims(
    settings: Settings, provider: OidcProvider, row: FederatedLogin, code: str
) -> dict[str, Any]:
    """Exchange the code, verify the id_token, read the userinfo (same `sub`): every claim."""
    document = metadata(provider)
    algorithms = rules.signing_algorithms(document.get("id_token_signing_alg_values_supported"))
    with _client(settings, provider) as client:
        token = client.fetch_token(
            document["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=row.code_verifier,
        )
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise _refused("bad-token", "The provider gave no identity token.")

        def verified(force: bool) -> dict[str, Any]:
            return verify_id_token(
                id_token,
                key_set(document, force=force),
                issuer=provider.issuer,
                client_id=provider.client_id,
                nonce=row.nonce,
                acr_values=provider.acr_values,
                algorithms=algorithms,
                access_token=token.get("access_token"),
            )

        try:
            claims = verified(False)
        except FederationRefused as refused:
            if refused.code != "bad-token":
                raise
            claims = verified(True)  # the provider may have rolled its keys since
        userinfo: dict[str, Any] = {}
        if isinstance(document.get("userinfo_endpoint"), str):
            response = client.get(document["userinfo_endpoint"])
            response.raise_for_status()
            userinfo = _userinfo(response, document, provider, algorithms)
            if userinfo.get("sub") != claims["sub"]:
                raise _refused("bad-token", "The provider's userinfo is of another person.")
    return {**userinfo, **claims}


def _userinfo(
    response: httpx.Response,
    document: Mapping[str, Any],
    provider: OidcProvider,
    algorithms: list[str],
) -> dict[str, Any]:
    """The userinfo's claims: JSON, or a JWT signed by the provider (FranceConnect's), whose
    signature, issuer and audience are then checked as the id_token's are."""
    if response.headers.get("content-type", "").split(";")[0].strip() != "application/jwt":
        found = response.json()
        if not isinstance(found, dict):
            raise _refused("bad-token", "The provider's userinfo is not a JSON object.")
        return found
    try:
        token = jwt.decode(
            response.text.strip(),
            KeySet.import_key_set(dict(key_set(document))),  # type: ignore[arg-type]
            algorithms=algorithms,
            registry=JWSRegistry(algorithms=algorithms),
        )
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
        ).validate(token.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise _refused(
            "bad-token", f"The provider's signed userinfo was refused ({type(exc).__name__})."
        ) from None
    return dict(token.claims)


def _holder_by_traits(session: Session, claims: Mapping[str, Any]) -> uuid.UUID:
    traits = rules.traits_from_claims(claims)
    candidates = holders_born_on(session, traits.birth_date)
    found = [
        holder.id
        for holder in candidates
        if rules.same_person(
            traits,
            rules.holder_traits(
                holder.birth_name,
                holder.first_names,
                holder.birth_date,
                holder.sex,
                holder.birth_place_insee,
            ),
        )
    ]
    if len(found) > 1:
        raise _refused("several-matches", "Several spaces match this identity.")
    if not found:
        raise _refused("no-match", "No space matches this identity.")
    return found[0]


def _professional_by_rpps(
    session: Session, provider: OidcProvider, claims: Mapping[str, Any]
) -> uuid.UUID:
    rpps = rules.rpps_from_claim(claims.get(provider.rpps_claim))
    if rpps is None:
        raise rules.ClaimsProblem(
            f"the provider did not give an RPPS number in {provider.rpps_claim}"
        )
    pro = professional_by_rpps(session, rpps)
    if pro is None:
        raise _refused("no-match", "No professional account matches this RPPS number.")
    return pro.id


def _link(
    session: Session, provider: OidcProvider, claims: Mapping[str, Any]
) -> tuple[FederatedIdentity, bool]:
    """The link of this provider's person: the stored one, else one made now by the rules."""
    subject = str(claims["sub"])
    if len(subject) > 255:  # OpenID Connect's bound: a longer one is not a subject
        raise _refused("bad-token", "The provider's subject is too long.")
    kind = kind_of(provider)
    link = session.scalars(
        select(FederatedIdentity).where(
            FederatedIdentity.provider == provider.name, FederatedIdentity.subject == subject
        )
    ).first()
    if link is not None and link.principal_kind == kind.value:
        return link, False
    if link is not None:  # the provider's kind was changed: its old links mean nothing now
        raise _refused("no-match", "This identity is linked to another kind of account.")
    try:
        if kind is PrincipalKind.HOLDER:
            principal_id = _holder_by_traits(session, claims)
        else:
            principal_id = _professional_by_rpps(session, provider, claims)
    except rules.ClaimsProblem as problem:
        raise _refused(
            "missing-traits", f"The provider's answer is incomplete: {problem}."
        ) from None
    link = FederatedIdentity(
        id=new_id(),
        provider=provider.name,
        subject=subject,
        principal_kind=kind.value,
        principal_id=principal_id,
        holder_id=principal_id if kind is PrincipalKind.HOLDER else None,
        created_at=clock.now(),
        last_used_at=clock.now(),
    )
    return link, True


def finish(
    session: Session,
    vault: Vault,
    settings: Settings,
    provider: OidcProvider,
    params: Mapping[str, str],
    *,
    browser: str,
    client: str,
    request_id: str | None = None,
) -> login.Outcome[SignedIn]:
    """The provider's answer (`params` of the callback) → the principal to open a session for.

    Never raises for a refused sign-in: the `Outcome`'s error is raised (shown) by the caller after
    the commit, so the used-up state, the failure counters and the audit entries persist."""
    wait = throttle.refusal(session, vault, settings, throttle.LOGIN, client)
    if wait is not None:
        return login.Outcome(error=wait)
    account: login.Account | None = None
    try:
        row = _take_login(session, provider, params.get("state", ""), browser)
        if params.get("error"):
            raise _refused("provider-error", "The provider did not sign you in.")
        if "iss" in params and params["iss"].rstrip("/") != provider.issuer:
            raise _refused("bad-token", "The answer names another provider.")
        claims = _claims(settings, provider, row, params.get("code", ""))
        link, first_time = _link(session, provider, claims)
        account = login.account_of(session, kind_of(provider), link.principal_id)
        if account is None:
            raise _refused("no-match", "No account matches this identity.")
        if account.refusal is not None:
            login.audit_failure(session, account, f"refused:{account.refusal.code}", request_id)
            return login.Outcome(error=account.refusal)
    except FederationRefused as refused:
        return login.Outcome(error=_failed(session, vault, settings, refused, client, request_id))
    except (httpx.HTTPError, OAuthError, ValueError, KeyError) as exc:
        problem = _refused(
            "provider-unreachable", f"The provider could not be reached ({type(exc).__name__})."
        )
        return login.Outcome(error=_failed(session, vault, settings, problem, client, request_id))
    if first_time:
        session.add(link)
    link.last_used_at = clock.now()
    session.flush()
    principal = Principal(account.kind, account.id)
    record(
        session,
        principal,
        "auth.login",
        holder_id=account.holder_id,
        target_type="FederatedIdentity",
        target_id=str(link.id),
        reason=f"oidc:{provider.name}:{'linked' if first_time else 'known'}",
        request_id=request_id,
    )
    return login.Outcome(SignedIn(principal, link.id, first_time))


def _failed(
    session: Session,
    vault: Vault,
    settings: Settings,
    refused: FederationRefused,
    client: str,
    request_id: str | None,
) -> FederationRefused:
    """Count and record a refused sign-in as a failed login (the system chain: no account)."""
    throttle.note_failure(session, vault, settings, throttle.LOGIN, client)
    login.audit_failure(session, None, f"oidc:{refused.code}", request_id)
    return refused
