"""The OAuth2 authorization server: Authlib's framework-agnostic server wired to Carnet's storage.

Authlib does the protocol (RFC 6749 authorization code and refresh token grants, RFC 7636 PKCE,
RFC 7009 revocation, RFC 7662 introspection, their error codes); this module gives it the
Starlette request's parameters, the catalogue's clients and `apps.service`'s codes and tokens.
One server is built per request around that request's database session, so everything it writes
is committed (or not) with the request.

Carnet's choices on top of Authlib's defaults: PKCE is required for every client and only S256
is accepted; `aud` must be Carnet's FHIR base URL (SMART v2); refresh tokens rotate (a rotated
one used again ends the consent's tokens); a code used twice revokes what it gave; tokens of suspended or delisted apps, or whose consent is outdated
by a new version (ACC-9), are refused at the token endpoint and introspect as inactive.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.rules import AppFacts, decide_app_standing
from carnet.apps import id_tokens, rules, service
from carnet.apps.models import App, AppAuthorizationCode, AppConsent, AppToken
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.fhir.service import fhir_base

AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]


# -- models as Authlib sees them ---------------------------------------------------------------


class Client(ClientMixin):  # type: ignore[misc]
    """A catalogue entry as an OAuth2 client."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.redirect_uris = app.redirect_uris.split("\n")
        self.listing = app.scopes.split()

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """ACC-9: the app gets nothing beyond its listing, compared as permissions (`rules.grant`).
        Asking beyond it is refused (`invalid_scope`) rather than silently narrowed; a wildcard is
        cut down to the listing; no scope asked means the whole listing."""
        if not scope:
            return " ".join(self.listing)
        granted = rules.grant(scope, self.listing)
        return None if granted is None else " ".join(granted)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match (RFC 9700 §4.1.3)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.app.secret_hash is None:
            return False
        return hmac.compare_digest(service.digest(client_secret), self.app.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.app.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class Code:
    """An authorization code row as Authlib sees it."""

    def __init__(self, row: AppAuthorizationCode, consent: AppConsent) -> None:
        self.row = row
        self.consent = consent

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scopes

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int | None:
        return int(self.row.auth_time.timestamp()) if self.row.auth_time else None

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


class Token(TokenMixin):  # type: ignore[misc]
    """A token row as Authlib sees it (revocation, introspection, refresh)."""

    def __init__(self, row: AppToken, consent: AppConsent, app: App) -> None:
        self.row = row
        self.consent = consent
        self.app = app

    def check_client(self, client: Client) -> bool:
        return bool(client.app.id == self.app.id)

    def get_scope(self) -> str:
        return self.row.scopes

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return bool(self.row.expires_at <= clock.now())

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.consent.revoked_at is not None

    def get_user(self) -> AppConsent:
        return self.consent

    def get_client(self) -> Client:
        return Client(self.app)


def standing(consent: AppConsent, app: App) -> bool:
    """ACC-9 at the token endpoint and in introspection: the app works and the consent is not
    outdated by a version asking for more (the decision point's rule, scope left aside)."""
    facts = AppFacts(
        status=app.status,
        space_id=consent.holder_id,
        granted=frozenset(consent.scopes.split()),
        consented_listing=frozenset(consent.listing.split()),
        listing=frozenset(app.scopes.split()),
    )
    return bool(decide_app_standing(facts))


# -- the request as Authlib sees it ------------------------------------------------------------


class Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):  # type: ignore[misc]
    """Query and form parameters of a Starlette request, read before (the body is async)."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        # Starlette's headers stay case-insensitive: Authlib reads `Authorization` (Basic).
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# -- grants -----------------------------------------------------------------------------------


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 with Carnet's policy: a challenge is required from every client, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str:
        return authorization_code.row.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str:
        return authorization_code.row.code_challenge_method


class Audience:
    """SMART App Launch v2: the authorization request names in `aud` the FHIR server the token is
    for; a missing or foreign one is refused (`invalid_request`, sent back to the registered
    redirect URI), so a token meant for another server is never issued here."""

    def __init__(self, fhir_base: str) -> None:
        self.fhir_base = fhir_base.rstrip("/")

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate_aud)

    def validate_aud(self, grant: Any, redirect_uri: str) -> None:
        aud = grant.request.payload.data.get("aud")
        if not aud:
            raise InvalidRequestError(f"Missing 'aud': send the FHIR base URL {self.fhir_base}.")
        if aud.rstrip("/") != self.fhir_base:
            raise InvalidRequestError(
                f"'aud' must be this server's FHIR base URL {self.fhir_base}."
            )


class OpenID(OpenIDCode):  # type: ignore[misc]
    """OpenID Connect on the code grant (SMART `sso-openid-connect`): with `openid`, the token
    answer carries an id_token naming the approving person (`id_tokens`); a nonce an app already
    used is refused as a replay."""

    def __init__(self, server: CarnetServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server
        self.settings = server.settings

    def exists_nonce(self, nonce: str, request: Request) -> bool:
        return service.nonce_used(self.server.session, request.client.app, nonce)

    def resolve_client_private_key(self, client: Client) -> Any:
        return id_tokens.signing_key(self.settings)

    def get_client_algorithm(self, client: Client) -> str:
        return id_tokens.ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": id_tokens.ALGORITHM, "kid": str(id_tokens.signing_key(self.settings).kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = clock.now()
        return {
            "iss": self.settings.base_url.rstrip("/"),
            "aud": client.get_client_id(),
            "iat": int(now.timestamp()),
            "exp": int((now + id_tokens.LIFETIME).timestamp()),
        }

    def generate_user_info(self, user: AppConsent, scope: str) -> dict[str, str]:
        return id_tokens.user_claims(str(user.granted_by), scope.split(), fhir_base(self.settings))


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def carnet(self) -> CarnetServer:
        server: CarnetServer = self.server
        return server

    def save_authorization_code(self, code: str, request: Request) -> None:
        consent: AppConsent = request.user
        data = request.payload.data
        service.save_code(
            self.carnet.session,
            consent,
            code,
            redirect_uri=data.get("redirect_uri") or request.client.redirect_uris[0],
            scopes=request.scope or "",
            challenge=data["code_challenge"],
            method=data["code_challenge_method"],
            nonce=data.get("nonce") if "openid" in (request.scope or "").split() else None,
            auth_time=self.carnet.auth_time,
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        session = self.carnet.session
        row = service.find_code(session, code)
        if row is None:
            return None
        consent = session.get(AppConsent, row.consent_id)
        if consent is None or consent.app_id != client.app.id:
            return None
        if row.used_at is not None:
            service.code_replayed(session, row)  # RFC 6749 §4.1.2
            self.carnet.audit(client.app, consent, "app.code-replayed")
            return None
        if row.expires_at <= clock.now() or consent.revoked_at is not None:
            return None
        if not standing(consent, client.app):
            return None
        return Code(row, consent)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        authorization_code.row.used_at = clock.now()  # kept, to recognise a replay
        self.carnet.session.flush()

    def authenticate_user(self, authorization_code: Code) -> AppConsent:
        self.carnet.code_id = authorization_code.row.id
        return authorization_code.consent


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    @property
    def carnet(self) -> CarnetServer:
        server: CarnetServer = self.server
        return server

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        found = self.carnet.token(refresh_token, "refresh_token")
        if found is None:
            return None
        if found.row.revoked_at is not None and found.row.revoked_reason == "rotated":
            service.refresh_replayed(self.carnet.session, found.row)
            self.carnet.audit(found.app, found.consent, "app.refresh-replayed")
            return None
        expires = found.row.refresh_expires_at
        if found.is_revoked() or expires is None or expires <= clock.now():
            return None
        if not standing(found.consent, found.app):
            return None
        return found

    def authenticate_user(self, refresh_token: Token) -> AppConsent:
        return refresh_token.consent

    def revoke_old_credential(self, refresh_token: Token) -> None:
        service.revoke_token_row(self.carnet.session, refresh_token.row, "rotated")


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        server: CarnetServer = self.server
        return server.token(token_string, token_type_hint)

    def revoke_token(self, token: Token, request: Request) -> None:
        server: CarnetServer = self.server
        service.revoke_token_row(server.session, token.row, "revoked")
        server.audit(token.app, token.consent, "app.token-revoked")


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        server: CarnetServer = self.server
        return server.token(token_string, token_type_hint)

    def check_permission(self, token: Token, client: Client, request: Request) -> bool:
        return token.check_client(client)  # an app introspects only its own tokens

    def introspect_token(self, token: Token) -> dict[str, Any]:
        server: CarnetServer = self.server
        if not standing(token.consent, token.app):
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "client_id": token.app.client_id,
            "token_type": "Bearer",
            "scope": token.row.scopes,
            "sub": str(token.consent.granted_by),
            "patient": str(token.consent.holder_id),
            "iss": server.settings.base_url.rstrip("/"),
            "iat": int(token.row.issued_at.timestamp()),
            "exp": int(token.row.expires_at.timestamp()),
        }
        return payload


# -- the server -------------------------------------------------------------------------------


class CarnetServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server on one request's session."""

    def __init__(self, session: Session, settings: Settings, request_id: str | None) -> None:
        super().__init__(scopes_supported=None)
        self.session = session
        self.settings = settings
        self.request_id = request_id
        self.code_id: Any = None
        self.auth_time: dt.datetime | None = None  # when the approving person signed in
        self.register_token_generator("default", self._generate)
        self.register_grant(
            AuthorizationCodeGrant,
            [S256Challenge(required=True), Audience(fhir_base(settings)), OpenID(self)],
        )
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def query_client(self, client_id: str) -> Client | None:
        app = service.find_app(self.session, client_id)
        return Client(app) if app is not None else None

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            rules.validate_scopes(scope or "")
        except rules.ScopeError:
            raise InvalidScopeError() from None

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: AppConsent | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        refresh = include_refresh_token and "offline_access" in (scope or "").split()
        access, refresh_value = service.new_token_values(refresh=refresh)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": expires_in or self.settings.token_ttl_minutes * 60,
            "scope": scope or "",
        }
        if refresh_value:
            token["refresh_token"] = refresh_value
        if user is not None and "launch/patient" in (scope or "").split():
            token["patient"] = str(user.holder_id)  # SMART launch context
        return token

    def save_token(self, token: dict[str, Any], request: Request) -> None:
        consent: AppConsent = request.user
        if not standing(consent, request.client.app):
            raise InvalidGrantError("The app may not act now (status or outdated consent).")
        service.store_token(
            self.session,
            consent,
            access=token["access_token"],
            refresh=token.get("refresh_token"),
            scopes=token["scope"],
            expires_in=int(token["expires_in"]),
            code_id=self.code_id,
        )
        self.audit(
            request.client.app, consent, "app.token-issued", reason=request.payload.grant_type
        )

    def token(self, value: str, hint: str | None) -> Token | None:
        if hint not in (None, "access_token", "refresh_token"):
            hint = None
        row = service.find_token(self.session, value, hint)
        if row is None:
            return None
        consent = self.session.get(AppConsent, row.consent_id)
        app = self.session.get(App, consent.app_id) if consent is not None else None
        if consent is None or app is None:
            return None
        return Token(row, consent, app)

    def audit(self, app: App, consent: AppConsent, action: str, reason: str | None = None) -> None:
        record(
            self.session,
            Principal(PrincipalKind.APP, app.id, app.client_id),
            action,
            holder_id=consent.holder_id,
            target_type="App",
            target_id=str(app.id),
            mode=Mode.APP,
            reason=reason,
            request_id=self.request_id,
        )

    def create_oauth2_request(self, request: Request) -> Request:
        return request

    def create_json_request(self, request: Request) -> Request:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        extra = dict(headers)
        location = extra.pop("Location", None)
        if location is not None:
            return RedirectResponse(location, status_code=303 if status == 302 else status)
        content = body if isinstance(body, str) else json.dumps(body)
        response = Response(content, status_code=status, media_type="application/json")
        for name, value in extra.items():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def error_json(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
