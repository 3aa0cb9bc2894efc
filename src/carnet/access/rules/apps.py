"""Apps (ACC-9, SRV-3): an app token's standing and scopes, and the app branch of every decision:
an app reads and writes as the holder who connected it would, never more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from carnet.access.rules.facts import (
    CLINICIANS,
    HOLDER_SIDE,
    Actor,
    AppFacts,
    Decision,
    Relation,
    SpaceFacts,
    clinical_access,
    mode_of,
)
from carnet.accounts.rules import LIVE_STATES
from carnet.apps import rules as app_rules
from carnet.audit.rules import Mode
from carnet.auth.principal import PrincipalKind


def decide_app_standing(app: AppFacts) -> Decision:
    """ACC-9, SRV-3: the app still works (suspended or delisted: nothing, at once; offline:
    connected apps keep working, a Carnet decision) and its current listing asks for nothing
    beyond the version the holder consented to (otherwise fresh consent is needed)."""
    if app.status not in app_rules.WORKING:
        return Decision(False, f"app-{app.status}", Mode.APP)
    if not app_rules.covers(app.consented_listing, app.listing):
        return Decision(False, "consent-outdated", Mode.APP)
    return Decision(True, "app-standing", Mode.APP)


def decide_app_consent(kind: PrincipalKind) -> Decision:
    """ACC-9, SRV-3: only a holder connects an app, for their space or one they manage; any other
    session (a professional's) is sent to the holder's login first, as nobody signed in is."""
    if kind is PrincipalKind.HOLDER:
        return Decision(True, "holder")
    return Decision(False, "not-a-holder")


def decide_app_scope(app: AppFacts, resource_type: str, interaction: str) -> Decision:
    """ACC-9, for the token alone: the app's standing, then a granted scope that the listing
    still has allows `interaction` (one of c r u d s) on `resource_type`."""
    standing = decide_app_standing(app)
    if not standing:
        return standing
    if interaction not in app_rules.INTERACTIONS or len(interaction) != 1:
        return Decision(False, "unknown-interaction", Mode.APP)
    if not app_rules.permits_within(app.granted, app.listing, resource_type, interaction):
        return Decision(False, "insufficient-scope", Mode.APP)
    return Decision(True, "app-scope", Mode.APP)


def decide_app_reach(
    actor: Actor, space: SpaceFacts, resource_type: str, interaction: str
) -> Decision:
    """ACC-9: an app reaches only the space it was connected to, while the space is open and the
    holder who consented still acts for it (a representative at the minor's majority: REP-3), with
    a scope covering the interaction."""
    if actor.relation is not Relation.APP or actor.app is None:
        return Decision(False, "not-an-app", mode_of(actor))
    if actor.app.space_id != space.holder_id:
        return Decision(False, "other-space", Mode.APP)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", Mode.APP)
    if actor.on_behalf not in HOLDER_SIDE:
        return Decision(False, "consent-holder-gone", Mode.APP)
    return decide_app_scope(actor.app, resource_type, interaction)


def on_behalf(actor: Actor) -> Actor:
    """The app seen as the holder-side person who connected it: it never sees more than they do
    (REP-2 for a representative's connection)."""
    return replace(actor, relation=actor.on_behalf, app=None)


def for_app(
    actor: Actor,
    space: SpaceFacts,
    resource_type: str,
    interaction: str,
    holder_side: Callable[[Actor], Decision],
) -> Decision:
    """ACC-9 then the holder-side rule, in app mode (ACC-8: audited as `app`)."""
    reach = decide_app_reach(actor, space, resource_type, interaction)
    if not reach:
        return reach
    inner = holder_side(on_behalf(actor))
    return Decision(inner.allowed, f"app:{inner.reason}", Mode.APP)


def space_reach(actor: Actor, space: SpaceFacts) -> Decision:
    """The steps every decision on a space's own data starts with: nobody reaches a space that is
    not open (ACC-1); the holder side does (REP-1, REP-4); besides it only clinicians, through
    `clinical_access` (care team ACC-1/ACC-3, emergency and regulation ACC-5/ACC-6). The caller
    then narrows what a clinician may do with it."""
    mode = mode_of(actor)
    if space.state not in LIVE_STATES:
        return Decision(False, "space-not-open", mode)
    if actor.relation in HOLDER_SIDE:
        return Decision(True, f"holder-side:{actor.relation.value}", mode)
    if actor.relation not in CLINICIANS:
        return Decision(False, "no-relation", mode)
    return clinical_access(actor, space)
