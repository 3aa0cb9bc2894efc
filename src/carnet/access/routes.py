"""Route-level access rules: each HTTP route declares exactly one (Indivo X's deny by default).

A rule is a FastAPI dependency carrying the marker `__carnet_access_rule__`; a test walks every route
of the application and fails when one has no rule or more than one. The fine-grained decisions on a
holder's data are taken by the policy decision point (`carnet.access.rules`), called by services.

Every rule also guards the `X-Carnet-Space` header (REP-1…REP-5, LC-5): a route honours it only by
taking a `SpaceHeader` parameter, which it hands to `accounts.family.resolve_space`; on any other
route the header is refused with 400 before anything runs, so that a request meant for a managed
space never acts on the caller's own one instead. `acting_on(action)` is that rule for the holder
routes of the API (the space resolved once, handed as an `Acting`); `calling(*kinds)` hands other
authenticated routes a `Caller`. Both wrap `authenticated` and count as the route's one rule.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from sqlalchemy.orm import Session

from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.sessions import current
from carnet.config import Settings
from carnet.db import Preload
from carnet.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, kept
from carnet.http import app_settings, app_vault, db_session, request_id
from carnet.vault.service import Vault

if TYPE_CHECKING:
    from carnet.accounts.family.relations import Relation
    from carnet.accounts.models import Holder

ACCESS_RULE_MARK = "__carnet_access_rule__"
HANDS_UNIT = "__carnet_hands_unit__"  # the rule gives the route the request's unit of work
SPACE_HEADER = "X-Carnet-Space"
_HONOURS_SPACE = "__carnet_honours_space__"

SpaceHeader = Annotated[
    str | None,
    Header(
        alias=SPACE_HEADER,
        description="Act on this space (holder id) that you manage, instead of your own.",
    ),
]
"""The one declaration of `X-Carnet-Space`. A route taking a parameter of this type honours the
header and must pass it to `accounts.family.resolve_space` (REP-1…REP-5 decide); a test sends a
foreign space to every route to hold both halves."""


def _mark(dependency: Callable[..., Any], name: str) -> Any:
    setattr(dependency, ACCESS_RULE_MARK, name)
    return Depends(dependency)


def public() -> Any:
    """Anyone may call: health probes, metadata, opposition (rule LC-2 forbids requiring a login)."""

    def _public(request: Request) -> None:
        refuse_unhonoured_space(request)

    return _mark(_public, "public")


def operator_token(setting: str) -> Any:
    """A bearer token equal to the secret setting named `setting`: for the operator's machines
    (the metrics scraper), not people. Compared in constant time; while the setting is unset the
    route answers 404, as if it did not exist."""

    def _operator_token(request: Request) -> None:
        refuse_unhonoured_space(request)  # as every route that acts on no space (REP-1)
        secret = getattr(app_settings(request), setting)
        if secret is None:
            raise NotFound("No such resource.")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = secret.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
            raise Unauthenticated("A valid bearer token is required.")

    return _mark(_operator_token, "operator-token")


def authenticated(
    *kinds: PrincipalKind,
    app_scope: tuple[str, str] | None = None,
    own_transactions: bool = False,
) -> Any:
    """A valid bearer token of one of `kinds`; the resolved principal is put on `request.state`.

    The token is resolved in the request's unit of work (`http.db_session`), with what every
    request on the holder's own space reads next (`own_space_parts`). A route that streams a body
    and opens its own short transactions around it (uploads) says `own_transactions=True`: its
    token is resolved in a read-only transaction of its own, so that no unit of work holds the
    database while megabytes arrive (a test holds routes without `db_session` to it).

    `app_scope` = (FHIR resource type, interaction c/r/u/d/s) opens the route to apps' tokens
    (ACC-9): the decision point checks the app's standing and scopes before anything else, and a
    refusal is a 403 (audited in the space, mode "app"). Routes without it refuse apps.
    """
    allowed = frozenset(kinds) | ({PrincipalKind.APP} if app_scope else frozenset())

    def _admit(request: Request, session: Session, preload: tuple[Preload, ...]) -> Principal:
        from carnet.auth.service import principal_from_request

        refuse_unhonoured_space(request)
        principal = principal_from_request(request, session, preload=preload)
        if principal is None:
            raise Unauthenticated("A valid bearer token is required.")
        if allowed and principal.kind not in allowed:
            raise Forbidden("This operation is not available to this kind of account.")
        if principal.kind is PrincipalKind.APP and app_scope is not None:
            _check_app_scope(request, session, principal, *app_scope)
        request.state.principal = principal
        return principal

    def _authenticated(
        request: Request, session: Session = Depends(db_session, scope="function")
    ) -> Principal:
        return _admit(request, session, own_space_parts())

    def _authenticated_alone(request: Request) -> Principal:
        with request.app.state.database.read_mostly() as session:
            return _admit(request, session, ())

    rule = _authenticated_alone if own_transactions else _authenticated
    rule.app_scope = app_scope  # type: ignore[attr-defined]  # what the route opens to apps
    return _mark(rule, _rule_name("authenticated", allowed))


def own_space_parts() -> tuple[Preload, ...]:
    """What every request on a holder's own space needs, read with the credential (issue 13):
    the holder's switches (`access.service.space_facts`) and data key (`vault`). Joined on
    primary keys, they cost no statement of their own."""
    from carnet.access.service import SWITCHES
    from carnet.vault.service import DATA_KEY

    return (SWITCHES, DATA_KEY)


@dataclass(frozen=True)
class Caller:
    """An authenticated request as a route sees it: the principal, the request's unit of work
    (`db_session`) and the application's settings."""

    request: Request
    session: Session
    settings: Settings
    principal: Principal

    @property
    def vault(self) -> Vault:
        return app_vault(self.request)

    @property
    def request_id(self) -> str:
        return request_id(self.request)


@dataclass(frozen=True)
class Acting(Caller):
    """A holder-side request with its space resolved (REP-1…REP-5): the space acted on and the
    caller's relation to it (`self`, `representative`, `caregiver`)."""

    holder: Holder
    relation: Relation


def calling(*kinds: PrincipalKind) -> Any:
    """The rule `authenticated(*kinds)`, handing the route a `Caller` rather than the principal
    alone. For routes that act on no managed space: `X-Carnet-Space` is refused at the door."""

    def _calling(
        request: Request,
        principal: Principal = authenticated(*kinds),
        session: Session = Depends(db_session, scope="function"),
    ) -> Caller:
        return Caller(request, session, app_settings(request), principal)

    setattr(_calling, HANDS_UNIT, True)
    return _mark(_calling, _rule_name("authenticated", frozenset(kinds)))


def acting_on(action: str) -> Any:
    """The rule of a holder route that honours `X-Carnet-Space`: a holder's bearer token
    (`authenticated`), then the space acted on for `action`, resolved once by
    `accounts.family.resolve_space` (own space, or one the caller manages; otherwise 404, and 403
    for what REP-4 keeps from caregivers). The route receives an `Acting`."""

    def _acting(
        request: Request,
        space: SpaceHeader = None,
        principal: Principal = authenticated(PrincipalKind.HOLDER),
        session: Session = Depends(db_session, scope="function"),
    ) -> Acting:
        from carnet.accounts.family.relations import resolve_space

        settings = app_settings(request)
        holder, relation = resolve_space(session, principal, space, action, settings=settings)
        return Acting(request, session, settings, principal, holder, relation)

    setattr(_acting, HANDS_UNIT, True)
    return _mark(_acting, _rule_name("authenticated", frozenset({PrincipalKind.HOLDER})))


def wrapping(rule: Any, dependency: Callable[..., Any]) -> Any:
    """`dependency`, which takes `rule` (one of this module's), as the route's one rule in its
    place and under its name: for a package that hands its routes more than the principal (the
    portal's pages, their acting space resolved). The wrapper hands the route its unit of work."""
    setattr(dependency, HANDS_UNIT, True)
    return _mark(dependency, getattr(rule.dependency, ACCESS_RULE_MARK))


def _rule_name(kind: str, allowed: frozenset[PrincipalKind]) -> str:
    return f"{kind}:" + ",".join(sorted(k.value for k in allowed)) if allowed else kind


def _check_app_scope(
    request: Request,
    session: Session,
    principal: Principal,
    resource_type: str,
    interaction: str,
) -> None:
    """ACC-9 at the door: the decision point on the token's facts; refusals audited (ACC-8) in
    the request's unit of work, which the refusal (`errors.kept`) commits."""
    from carnet.access.rules import decide_app_scope
    from carnet.access.service import app_facts
    from carnet.audit.service import record

    facts = app_facts(principal)
    if facts is None:
        raise Forbidden("This token is not an app's.", code="not-an-app")
    decision = decide_app_scope(facts, resource_type, interaction)
    if decision:
        return
    record(
        session,
        principal,
        "app.request-denied",
        holder_id=facts.space_id,
        target_type=resource_type,
        target_id=interaction,
        mode=decision.mode,
        reason=decision.reason,
        request_id=getattr(request.state, "request_id", None),
    )
    messages = {
        "insufficient-scope": f"The holder did not allow this app to do this on {resource_type}.",
        "consent-outdated": "This version of the app asks for more: the holder must consent again.",
    }
    raise kept(
        Forbidden(
            messages.get(decision.reason, "This app may not access Carnet now."),
            code=decision.reason,
        )
    )


def portal_session(*kinds: PrincipalKind) -> Any:
    """A live portal session (server-side, `carnet_session` cookie) of one of `kinds`.

    The session is resolved by `carnet.auth.sessions` (idle timeout, logout everywhere); the
    principal and the session are put on `request.state`. Without one the portal sends the browser
    to its login page (`Unauthenticated`, code `no-session`).
    """
    allowed = frozenset(kinds)

    def _portal_session(
        request: Request, session: Session = Depends(db_session, scope="function")
    ) -> Principal:
        refuse_unhonoured_space(request)
        live = current(request, session, preload=own_space_parts())
        if live is None:
            raise Unauthenticated("Your session has ended: log in again.", code="no-session")
        if allowed and live.principal.kind not in allowed:
            raise Unauthenticated("Log in with an account of the right kind.", code="wrong-kind")
        request.state.principal = live.principal
        request.state.portal_session = live
        return live.principal

    return _mark(_portal_session, _rule_name("portal-session", allowed))


def refuse_unhonoured_space(request: Request) -> None:
    """400 when `X-Carnet-Space` reaches a route that does not honour it (REP-1, LC-5).

    Ignoring it would act on the caller's own space: `POST /api/v1/me/close` meant for a child's
    space would close the parent's. Deny by default: a request whose route is unknown is refused too.
    """
    if SPACE_HEADER not in request.headers:
        return
    if honours_space(request.scope.get("route")):
        return
    raise InvalidInput(
        f"This operation does not act on another space: remove the {SPACE_HEADER} header.",
        code="space-header-not-honoured",
    )


def honours_space(route: Any) -> bool:
    """Whether `route` takes `X-Carnet-Space` (a `SpaceHeader` anywhere in its dependencies)."""
    if route is None:
        return False
    known: bool | None = getattr(route, _HONOURS_SPACE, None)
    if known is None:
        dependant = getattr(route, "dependant", None)
        known = dependant is not None and takes_space_header(dependant)
        setattr(route, _HONOURS_SPACE, known)
    return known


def takes_space_header(dependant: Any) -> bool:
    """Whether a route's `dependant` (its dependencies included) reads `X-Carnet-Space`."""
    if any(
        str(getattr(param, "alias", "")).lower() == SPACE_HEADER.lower()
        for param in dependant.header_params
    ):
        return True
    return any(takes_space_header(sub) for sub in dependant.dependencies)


def route_rules(dependant: Any) -> list[str]:
    """The access rules declared on a route (its dependency tree, top level)."""
    found: list[str] = []
    for dep in dependant.dependencies:
        name = getattr(dep.call, ACCESS_RULE_MARK, None)
        if name is not None:
            found.append(name)
    return found


def declared_rules(app: FastAPI) -> Iterator[tuple[str, frozenset[str], list[str]]]:
    """(path, methods, rules) of every API route of `app`, routers included, for the coverage test.

    Router-level dependencies count: the effective dependant of each included route is inspected.
    """
    from fastapi.routing import APIRoute, iter_route_contexts

    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if not isinstance(original, APIRoute):
            continue
        dependant = getattr(context, "dependant", None) or original.dependant
        yield str(context.path), frozenset(context.methods or ()), route_rules(dependant)
