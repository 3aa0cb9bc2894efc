"""OAuth2 and SMART endpoints, the public catalogue and the holder's connected apps (SRV-3, ACC-9).

`/oauth/token`, `/oauth/revoke` and `/oauth/introspect` are Authlib's endpoints (the client
authenticates itself there: the route rule is `public()`); the authorization endpoint, with its
consent page, is a portal page (`carnet.portal.views.apps`). Answers of the token endpoints are
never cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from carnet.access.routes import Acting, acting_on, public
from carnet.apps import id_tokens, rules, service
from carnet.apps.oauth import CarnetServer
from carnet.apps.oauth import Request as OAuthRequest
from carnet.apps.schemas import CatalogueAppOut, ConnectedAppOut, DisconnectedOut
from carnet.config import Settings
from carnet.http import app_settings as _settings
from carnet.http import db_session, form_body, request_id
from carnet.http import error_responses as _errors

router = APIRouter(tags=["apps"])

# REP-4: connecting and disconnecting apps change access settings; caregivers only read the list.
READ_SETTINGS = "read-access-settings"
CHANGE_SETTINGS = "change-access-settings"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def form_items(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=20)


def oauth_request(request: Request, form: FormData | None = None) -> OAuthRequest:
    """The Starlette request for Authlib. Transport security is the TLS front's (CARNET_BASE_URL is
    https in production): the URI handed to Authlib says https."""
    fields = [(k, v) for k, v in (form.multi_items() if form else []) if isinstance(v, str)]
    return OAuthRequest(
        request.method,
        str(request.url.replace(scheme="https")),
        request.headers,
        list(request.query_params.multi_items()),
        fields,
    )


def oauth_server(request: Request, session: Session) -> CarnetServer:
    return CarnetServer(session, _settings(request), request_id(request))


def opened_to_apps(app: FastAPI) -> list[tuple[str, str]]:
    """(resource type, interaction) of every route open to apps' tokens: the `app_scope` each
    declares with `access.routes.authenticated` (ACC-9), read from the routes themselves."""
    from fastapi.routing import APIRoute, iter_route_contexts

    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if not isinstance(original, APIRoute):
            continue
        dependant = getattr(context, "dependant", None) or original.dependant
        for dependency in dependant.dependencies:
            scope = getattr(dependency.call, "app_scope", None)
            if scope is not None:
                found.append((str(scope[0]), str(scope[1])))
    return found


def smart_configuration(settings: Settings, opened: list[tuple[str, str]]) -> dict[str, Any]:
    """SMART discovery; `scopes_supported` lists what the routes in `opened` let apps do."""
    base = settings.base_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "jwks_uri": f"{base}/oauth/jwks",
        "id_token_signing_alg_values_supported": [id_tokens.ALGORITHM],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": [
            *rules.NON_RESOURCE,
            *rules.advertised_scopes(opened),
        ],
        "capabilities": [
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "context-standalone-patient",
            "permission-patient",
            "permission-v2",
            "permission-v1",
            "permission-offline",
            "sso-openid-connect",
        ],
    }


def openid_configuration(settings: Settings) -> dict[str, Any]:
    """OpenID Connect discovery, for apps' libraries that check the id_token from it."""
    base = settings.base_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/oauth/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [id_tokens.ALGORITHM],
        "scopes_supported": ["openid", "fhirUser"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
    }


@router.get(
    "/.well-known/smart-configuration",
    dependencies=[public()],
    summary="SMART App Launch v2 discovery: endpoints, scopes, PKCE S256",
)
def well_known(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_settings(request), opened_to_apps(request.app)))


@router.get(
    "/fhir/.well-known/smart-configuration",
    dependencies=[public()],
    summary="SMART discovery relative to the FHIR base",
)
def fhir_well_known(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_settings(request), opened_to_apps(request.app)))


@router.get(
    "/.well-known/openid-configuration",
    dependencies=[public()],
    summary="OpenID Connect discovery: the issuer of apps' id_tokens and its keys",
)
def openid_well_known(request: Request) -> JSONResponse:
    return JSONResponse(openid_configuration(_settings(request)))


@router.get(
    "/oauth/jwks",
    dependencies=[public()],
    summary="The public keys that sign apps' id_tokens (JWK Set, RS256)",
)
def jwks(request: Request) -> JSONResponse:
    return JSONResponse(id_tokens.jwks(_settings(request)))


@router.post(
    "/oauth/token",
    dependencies=[public()],
    openapi_extra=form_body(
        {
            "grant_type": "authorization_code or refresh_token",
            "code": "The authorization code",
            "redirect_uri": "As sent to /oauth/authorize",
            "code_verifier": "PKCE verifier (S256)",
            "refresh_token": "For grant_type=refresh_token",
            "client_id": "The app",
            "client_secret": "Confidential apps (or HTTP Basic)",
        },
        required=("grant_type",),
    ),
    summary="OAuth2 token endpoint: authorization_code (PKCE S256) and refresh_token (rotation)",
)
def token(
    request: Request,
    form: FormData = Depends(form_items),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    response: Response = oauth_server(request, session).create_token_response(
        oauth_request(request, form)
    )
    response.headers.update(NO_STORE)
    return response


TOKEN_FORM = form_body(
    {
        "token": "The token",
        "token_type_hint": "access_token or refresh_token",
        "client_id": "The app",
        "client_secret": "Confidential apps (or HTTP Basic)",
    },
    required=("token",),
)


@router.post(
    "/oauth/revoke",
    dependencies=[public()],
    openapi_extra=TOKEN_FORM,
    summary="RFC 7009 token revocation",
)
def revoke(
    request: Request,
    form: FormData = Depends(form_items),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    response: Response = oauth_server(request, session).create_endpoint_response(
        "revocation", oauth_request(request, form)
    )
    response.headers.update(NO_STORE)
    return response


@router.post(
    "/oauth/introspect",
    dependencies=[public()],
    openapi_extra=TOKEN_FORM,
    summary="RFC 7662 token introspection",
)
def introspect(
    request: Request,
    form: FormData = Depends(form_items),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    response: Response = oauth_server(request, session).create_endpoint_response(
        "introspection", oauth_request(request, form)
    )
    response.headers.update(NO_STORE)
    return response


@router.get(
    "/api/v1/apps",
    dependencies=[public()],
    response_model=list[CatalogueAppOut],
    summary="The catalogue: apps online now (SRV-3)",
)
def catalogue(session: Session = Depends(db_session, scope="function")) -> list[CatalogueAppOut]:
    return [CatalogueAppOut.of(app) for app in service.list_apps(session, rules.ONLINE)]


@router.get(
    "/api/v1/me/apps",
    response_model=list[ConnectedAppOut],
    responses=_errors(401, 403, 404),
    summary="Apps connected to my space (or one I manage), with what each may see (SRV-3)",
)
def my_apps(
    acting: Acting = acting_on(READ_SETTINGS),
) -> list[ConnectedAppOut]:
    return [ConnectedAppOut.of(c) for c in service.connected_apps(acting.session, acting.holder.id)]


@router.delete(
    "/api/v1/me/apps/{client_id}",
    response_model=DisconnectedOut,
    responses=_errors(401, 403, 404),
    summary="Disconnect an app: every token it holds for this space stops at once (ACC-9)",
)
def disconnect_app(
    client_id: str,
    acting: Acting = acting_on(CHANGE_SETTINGS),
) -> DisconnectedOut:
    revoked = service.disconnect(
        acting.session, acting.principal, acting.holder, client_id, request_id=acting.request_id
    )
    return DisconnectedOut(client_id=client_id, revoked_tokens=revoked)
