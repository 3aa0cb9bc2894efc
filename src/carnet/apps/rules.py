"""Pure rules of the app catalogue: SMART App Launch v2 scopes, statuses, listings (SRV-3, ACC-9).

Scopes are parsed here; what a parsed scope allows is decided by the decision point
(`access.rules.decide_app_scope`). No I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# SRV-3: the operator's statuses. Offline (Carnet decision): the app is out of the catalogue and
# takes no new connection, but connected apps keep working; suspended and delisted lose access at
# once (ACC-9).
ONLINE = "online"
OFFLINE = "offline"
SUSPENDED = "suspended"
DELISTED = "delisted"
STATUSES = (ONLINE, OFFLINE, SUSPENDED, DELISTED)
CONNECTABLE = frozenset({ONLINE})
WORKING = frozenset({ONLINE, OFFLINE})

# SMART v2 interactions: create, read, update, delete, search (in this order).
INTERACTIONS = "cruds"
# v1 suffixes, accepted and rewritten.
V1 = {"read": "rs", "write": "cud", "*": "cruds"}

# The FHIR resource types Carnet serves, hence the only ones an app may ask for.
RESOURCE_TYPES = (
    "Patient",
    "DocumentReference",
    "Binary",
    "Immunization",
    "Observation",
    "AllergyIntolerance",
    "Condition",
    "MedicationStatement",
    "FamilyMemberHistory",
    "Appointment",
    "ExplanationOfBenefit",
    "AuditEvent",
)
# A document's bytes are the document: DocumentReference scopes cover its Binary (ITI-68).
COVERED_BY = {"Binary": ("Binary", "DocumentReference")}
# Scopes without a resource: identity, offline refresh tokens, the patient context.
NON_RESOURCE = ("openid", "fhirUser", "offline_access", "launch/patient")

REMINDER_INTERVAL = dt.timedelta(days=90)  # SRV-3

_RESOURCE_SCOPE = re.compile(r"^patient/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$")
_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,29}$")


class ScopeError(ValueError):
    """A scope that Carnet does not understand or does not serve."""


@dataclass(frozen=True)
class ResourceScope:
    """`patient/<type>.<interactions>`: for the holder's own space only (no `user/` scopes)."""

    resource_type: str  # or "*"
    interactions: str  # a subset of "cruds", in that order

    def allows(self, resource_type: str, interaction: str) -> bool:
        wanted = COVERED_BY.get(resource_type, (resource_type,))
        return (self.resource_type == "*" or self.resource_type in wanted) and (
            interaction in self.interactions
        )


def parse_scope(text: str) -> ResourceScope | None:
    """A resource scope, None for a non-resource scope; ScopeError for anything else.

    Query parameters (`?category=…`) are not supported: they are refused rather than ignored.
    """
    if text in NON_RESOURCE:
        return None
    found = _RESOURCE_SCOPE.match(text)
    if found is None:
        raise ScopeError(
            f"Unsupported scope {text!r}: use patient/<Type>.<cruds> or {NON_RESOURCE}."
        )
    resource, suffix = found.groups()
    if resource != "*" and resource not in RESOURCE_TYPES:
        raise ScopeError(f"Carnet serves no {resource} resources (scope {text!r}).")
    if suffix in V1:
        letters = V1[suffix]
    else:
        if (
            not suffix
            or any(c not in INTERACTIONS for c in suffix)
            or len(set(suffix)) != len(suffix)
        ):
            raise ScopeError(f"Unsupported interactions in scope {text!r}: use letters of cruds.")
        if "".join(sorted(suffix, key=INTERACTIONS.index)) != suffix:
            raise ScopeError(f"SMART v2 interactions go in the order c r u d s (scope {text!r}).")
        letters = suffix
    return ResourceScope(resource, letters)


def split_scopes(text: str | Iterable[str]) -> list[str]:
    words = text.split() if isinstance(text, str) else [w for part in text for w in part.split()]
    seen: list[str] = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return seen


def validate_scopes(text: str | Iterable[str]) -> list[str]:
    """Every scope understood (ScopeError naming the first that is not); duplicates dropped."""
    scopes = split_scopes(text)
    for scope in scopes:
        parse_scope(scope)
    return scopes


def resource_scopes(scopes: Iterable[str]) -> list[ResourceScope]:
    found: list[ResourceScope] = []
    for scope in scopes:
        try:
            parsed = parse_scope(scope)
        except ScopeError:
            continue  # stored scopes were validated; an unknown one grants nothing
        if parsed is not None:
            found.append(parsed)
    return found


def permits(scopes: Iterable[str], resource_type: str, interaction: str) -> bool:
    """Whether any of `scopes` allows `interaction` (one of c r u d s) on `resource_type`."""
    return any(s.allows(resource_type, interaction) for s in resource_scopes(scopes))


def permissions(scopes: Iterable[str]) -> frozenset[tuple[str, str]]:
    """What `scopes` allow, as (resource type, interaction) pairs: `patient/Patient.read`,
    `patient/Patient.rs` and `patient/*.rs` compared by what they grant, not by their spelling."""
    parsed = resource_scopes(scopes)
    return frozenset(
        (resource, letter)
        for resource in RESOURCE_TYPES
        for letter in INTERACTIONS
        if any(s.allows(resource, letter) for s in parsed)
    )


def permits_within(
    granted: Iterable[str], listing: Iterable[str], resource_type: str, interaction: str
) -> bool:
    """ACC-9: a granted scope allows `interaction` on `resource_type` and the app's current listing
    still does (a permission, whatever the spelling of either)."""
    return permits(granted, resource_type, interaction) and permits(
        listing, resource_type, interaction
    )


def within(asked: Iterable[str], listing: Iterable[str]) -> bool:
    """ACC-9: the asked scopes allow nothing the app's listing does not (non-resource scopes by
    name, resource scopes as permissions: v1 names, v2 letters and `*` alike)."""
    asked = list(asked)
    listed = list(listing)
    named = {s for s in asked if s in NON_RESOURCE}
    return named <= set(listed) and permissions(asked) <= permissions(listed)


def _narrowed(wildcard: ResourceScope, listing: Iterable[str]) -> list[str]:
    """`patient/*.<letters>` cut down to the listing: each listed resource scope keeps the asked
    interactions it has."""
    found: list[str] = []
    for listed in resource_scopes(listing):
        letters = "".join(c for c in listed.interactions if c in wildcard.interactions)
        if letters:
            found.append(f"patient/{listed.resource_type}.{letters}")
    return found


def grant(asked: str | Iterable[str], listing: Iterable[str]) -> list[str] | None:
    """ACC-9: what an app asking for `asked` is granted, None when it asks for more than its
    listing allows (`invalid_scope`, never silently narrowed).

    A named scope is granted as asked when the listing allows all it allows (`patient/Patient.r`
    or `.read` under a listed `patient/Patient.rs`: a subset is granted as that subset). A wildcard
    (`patient/*.rs`) asks for whatever the app may have: it is granted as the listed scopes cut
    down to its interactions, and refused only when nothing is left.
    """
    listed = list(listing)
    granted: list[str] = []
    for scope in split_scopes(asked):
        try:
            parsed = parse_scope(scope)
        except ScopeError:
            return None
        if parsed is not None and parsed.resource_type == "*":
            narrowed = _narrowed(parsed, listed)
            if not narrowed:
                return None
            granted.extend(narrowed)
        elif within([scope], listed):
            granted.append(scope)
        else:
            return None
    return split_scopes(granted)


def covers(consented_listing: Iterable[str], listing: Iterable[str]) -> bool:
    """ACC-9: the app's current listing asks for nothing beyond what the holder consented to
    (as permissions: a listing respelt `.read` → `.rs` needs no fresh consent)."""
    return within(listing, consented_listing)


def advertised_scopes(opened: Iterable[tuple[str, str]]) -> list[str]:
    """ACC-9, SMART discovery: the resource scopes worth asking for, from the (resource type,
    interaction) pairs that FHIR routes open to apps; per type its reads (`.rs`) and, when some
    route writes it, everything open (`.crus` for a profile type). Nothing promises a write that
    no route would let an app make."""
    found: dict[str, set[str]] = {}
    for resource, interaction in opened:
        if resource in RESOURCE_TYPES and interaction in INTERACTIONS:
            found.setdefault(resource, set()).add(interaction)
    scopes: list[str] = []
    for resource in RESOURCE_TYPES:
        letters = "".join(c for c in INTERACTIONS if c in found.get(resource, ()))
        reads = "".join(c for c in letters if c in "rs")
        for part in dict.fromkeys(p for p in (reads, letters) if p):
            scopes.append(f"patient/{resource}.{part}")
    return scopes


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI (or http on the loopback for native apps), no fragment."""
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ValueError(f"Not an absolute redirect URI without fragment: {uri!r}.")
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"Redirect URIs use https (http only on the loopback): {uri!r}.")
    return uri


def is_client_id(value: str) -> bool:
    """Whether `value` has the shape of a client id: anything else names no app."""
    return _CLIENT_ID.match(value) is not None


def check_client_id(value: str) -> str:
    if not is_client_id(value):
        raise ValueError("A client id has 2 to 63 lowercase letters, digits or dashes.")
    return value


def check_version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError("A version has 1 to 30 letters, digits, dots, plus or minus signs.")
    return value


def reminder_due(last: dt.datetime | None, connected_at: dt.datetime, now: dt.datetime) -> bool:
    """SRV-3: 90 days after the connection, then 90 days after each reminder."""
    return now - (last or connected_at) >= REMINDER_INTERVAL


@dataclass(frozen=True)
class Plain:
    """What scopes mean for one resource type: will the app see it, change it (consent page)."""

    resource: str
    reads: bool
    writes: bool


def plain(scopes: Iterable[str]) -> list[Plain]:
    """One line per resource type: whether the app will see it, change it, or both."""
    found: dict[str, Plain] = {}
    for scope in resource_scopes(scopes):
        old = found.get(scope.resource_type, Plain(scope.resource_type, False, False))
        found[scope.resource_type] = Plain(
            scope.resource_type,
            old.reads or bool(set(scope.interactions) & set("rs")),
            old.writes or bool(set(scope.interactions) & set("cud")),
        )
    order = ["*", *RESOURCE_TYPES]
    return sorted(found.values(), key=lambda p: order.index(p.resource))
