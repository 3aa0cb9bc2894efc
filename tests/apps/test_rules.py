"""ACC-9 and SRV-3 as pure rules: SMART scopes, the app's standing, the decision point's app mode."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.access.rules import (
    Actor,
    AppFacts,
    DocumentFacts,
    Relation,
    SpaceFacts,
    decide_agenda_change,
    decide_agenda_read,
    decide_agenda_write,
    decide_app_reach,
    decide_app_scope,
    decide_document_read,
    decide_history_read,
    decide_patient_read,
    decide_profile_read,
    decide_profile_write,
    decide_reimbursements_read,
)
from carnet.apps import rules
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind

SPACE = uuid.uuid4()
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
LISTING = frozenset({"patient/DocumentReference.rs", "patient/Observation.rs", "offline_access"})


def facts(**changes: object) -> AppFacts:
    values: dict[str, object] = {
        "status": "online",
        "space_id": SPACE,
        "granted": frozenset({"patient/DocumentReference.rs"}),
        "consented_listing": LISTING,
        "listing": LISTING,
    }
    values.update(changes)
    return AppFacts(**values)  # type: ignore[arg-type]


def actor(on_behalf: Relation = Relation.SELF, **changes: object) -> Actor:
    return Actor(
        Principal(PrincipalKind.APP, uuid.uuid4()),
        Relation.APP,
        app=facts(**changes),
        on_behalf=on_behalf,
    )


def doc(**changes: object) -> DocumentFacts:
    values: dict[str, object] = {
        "author_kind": "professional",
        "author_id": uuid.uuid4(),
        "sensitivity": "general",
        "status": "current",
        "masked": False,
        "invisible_to_patient": False,
        "visible_to_patient_from": None,
        "invisible_to_representatives": False,
    }
    values.update(changes)
    return DocumentFacts(**values)  # type: ignore[arg-type]


LIVE = SpaceFacts(holder_id=SPACE, state="active")


@pytest.mark.parametrize(
    ("text", "resource", "letters"),
    [
        ("patient/DocumentReference.rs", "DocumentReference", "rs"),
        ("patient/Observation.cruds", "Observation", "cruds"),
        ("patient/Observation.read", "Observation", "rs"),
        ("patient/*.write", "*", "cud"),
    ],
)
def test_smart_scopes_parse(text: str, resource: str, letters: str) -> None:
    assert rules.parse_scope(text) == rules.ResourceScope(resource, letters)


@pytest.mark.parametrize(
    "text",
    ["user/Observation.rs", "patient/Observation.sr", "patient/Foo.rs", "patient/Observation.x",
     "patient/Observation.rs?category=laboratory", "admin", "patient/Observation.rr"],
)  # fmt: skip
def test_unknown_scopes_are_refused(text: str) -> None:
    with pytest.raises(rules.ScopeError):
        rules.parse_scope(text)


def test_non_resource_scopes_grant_no_data() -> None:
    assert rules.parse_scope("launch/patient") is None
    assert not rules.permits(["openid", "fhirUser", "offline_access"], "Patient", "r")


def test_document_scopes_cover_the_content_binary() -> None:
    assert rules.permits(["patient/DocumentReference.r"], "Binary", "r")
    assert not rules.permits(["patient/DocumentReference.s"], "Binary", "r")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, "app-scope"),
        ({"status": "offline"}, "app-scope"),  # Carnet decision: connected apps keep working
        ({"status": "suspended"}, "app-suspended"),
        ({"status": "delisted"}, "app-delisted"),
        ({"listing": LISTING | {"patient/Condition.rs"}}, "consent-outdated"),  # new version
        ({"listing": LISTING - {"patient/Observation.rs"}}, "app-scope"),  # asks for less
        ({"listing": LISTING - {"patient/DocumentReference.rs"}}, "insufficient-scope"),
    ],
)
def test_acc9_standing_and_scope(change: dict[str, object], reason: str) -> None:
    decision = decide_app_scope(facts(**change), "DocumentReference", "r")
    assert decision.reason == reason
    assert bool(decision) is (reason == "app-scope")
    assert decision.mode is Mode.APP


def test_acc9_only_the_interactions_granted() -> None:
    listing = LISTING | {"patient/DocumentReference.s"}
    app = facts(
        granted=frozenset({"patient/DocumentReference.s"}), listing=listing,
        consented_listing=listing,
    )  # fmt: skip
    assert decide_app_scope(app, "DocumentReference", "s")
    assert not decide_app_scope(app, "DocumentReference", "r")
    assert not decide_app_scope(app, "DocumentReference", "c")
    assert not decide_app_scope(app, "Observation", "s")


def test_acc9_only_the_space_and_while_the_consenting_holder_acts_for_it() -> None:
    assert decide_app_reach(actor(), LIVE, "DocumentReference", "r")
    elsewhere = SpaceFacts(holder_id=uuid.uuid4(), state="active")
    assert decide_app_reach(actor(), elsewhere, "DocumentReference", "r").reason == "other-space"
    closed = SpaceFacts(holder_id=SPACE, state="closed")
    assert decide_app_reach(actor(), closed, "DocumentReference", "r").reason == "space-not-open"
    gone = actor(on_behalf=Relation.NONE)  # e.g. a representative at the minor's majority (REP-3)
    assert decide_app_reach(gone, LIVE, "DocumentReference", "r").reason == "consent-holder-gone"


def test_an_app_never_sees_more_than_the_holder_who_connected_it() -> None:
    secret = doc(invisible_to_representatives=True)  # REP-2
    assert decide_document_read(actor(Relation.SELF), LIVE, secret, NOW)
    by_parent = decide_document_read(actor(Relation.REPRESENTATIVE), LIVE, secret, NOW)
    assert not by_parent and by_parent.mode is Mode.APP
    awaiting = doc(invisible_to_patient=True)  # DOC-4
    assert not decide_document_read(actor(), LIVE, awaiting, NOW)
    allowed = decide_document_read(actor(), LIVE, doc(), NOW)
    assert allowed.mode is Mode.APP and allowed.reason == "app:holder-side:self"


def test_each_fhir_resource_needs_its_own_scope() -> None:
    none = actor(granted=frozenset({"patient/DocumentReference.rs"}))
    assert not decide_patient_read(none, LIVE)
    assert not decide_history_read(none, LIVE)
    assert not decide_reimbursements_read(none, LIVE)
    assert not decide_profile_read(none, LIVE, "measurement")
    every = actor(
        granted=frozenset({"patient/*.rs"}), listing=frozenset({"patient/*.rs"}),
        consented_listing=frozenset({"patient/*.rs"}),
    )  # fmt: skip
    assert decide_patient_read(every, LIVE, "s")
    assert decide_history_read(every, LIVE)
    assert decide_reimbursements_read(every, LIVE)
    assert decide_profile_read(every, LIVE, "measurement")
    assert decide_profile_read(every, LIVE, "vaccination")
    # sections that FHIR does not serve stay out of apps' reach
    assert decide_profile_read(every, LIVE, "lifestyle").reason == "not-served-to-apps"


def test_srv3_reminder_every_90_days() -> None:
    connected = NOW - dt.timedelta(days=89)
    assert not rules.reminder_due(None, connected, NOW)
    assert rules.reminder_due(None, NOW - dt.timedelta(days=90), NOW)
    assert not rules.reminder_due(
        NOW - dt.timedelta(days=10), connected - dt.timedelta(days=200), NOW
    )


def test_listing_checks() -> None:
    assert rules.check_redirect_uri("https://app.example.org/cb")
    assert rules.check_redirect_uri("http://127.0.0.1:8765/cb")  # native apps (RFC 8252)
    for bad in ("http://app.example.org/cb", "https://app.example.org/cb#frag", "/relative"):
        with pytest.raises(ValueError):
            rules.check_redirect_uri(bad)
    assert rules.within(["patient/Observation.rs"], LISTING)
    assert not rules.within(["patient/Observation.cruds"], LISTING)


def _granted(*scopes: str) -> Actor:
    return actor(granted=frozenset(scopes), listing=frozenset(scopes),
                 consented_listing=frozenset(scopes))  # fmt: skip


def test_acc9_profile_writes_need_the_interaction_scope_of_the_section_type() -> None:
    writer = _granted("patient/Observation.cu")
    created = decide_profile_write(writer, LIVE, "measurement", "c")
    assert created and created.mode is Mode.APP and created.reason == "app:holder-side:self"
    assert decide_profile_write(writer, LIVE, "measurement", "u")
    assert decide_profile_write(writer, LIVE, "measurement", "d").reason == "insufficient-scope"
    assert decide_profile_write(writer, LIVE, "vaccination", "c").reason == "insufficient-scope"
    reader = _granted("patient/Observation.rs")
    assert decide_profile_write(reader, LIVE, "measurement", "c").reason == "insufficient-scope"
    everything = _granted("patient/*.cruds")
    assert decide_profile_write(everything, LIVE, "treatment", "c")  # MedicationStatement
    assert decide_profile_write(everything, LIVE, "family_history", "u")  # FamilyMemberHistory
    # sections without a FHIR face stay out of apps' reach, even with every scope
    assert decide_profile_write(everything, LIVE, "lifestyle", "c").reason == "not-served-to-apps"


def test_acc9_app_writes_stop_with_standing_space_or_the_consenting_holder() -> None:
    scope = "patient/Observation.cu"
    suspended = actor(granted=frozenset({scope}), listing=frozenset({scope}),
                      consented_listing=frozenset({scope}), status="suspended")  # fmt: skip
    assert decide_profile_write(suspended, LIVE, "measurement", "c").reason == "app-suspended"
    more = actor(granted=frozenset({scope}), consented_listing=frozenset({scope}),
                 listing=frozenset({scope, "patient/Condition.cu"}))  # fmt: skip
    assert decide_profile_write(more, LIVE, "measurement", "c").reason == "consent-outdated"
    elsewhere = SpaceFacts(holder_id=uuid.uuid4(), state="active")
    writer = _granted(scope)
    assert decide_profile_write(writer, elsewhere, "measurement", "c").reason == "other-space"
    closed = SpaceFacts(holder_id=SPACE, state="closed")
    assert decide_profile_write(writer, closed, "measurement", "c").reason == "space-not-open"
    # ACC-7 / REP-3: as the one who connected it; once they no longer act for the space, nothing.
    by_parent = replace(writer, on_behalf=Relation.REPRESENTATIVE)
    allowed = decide_profile_write(by_parent, LIVE, "measurement", "c")
    assert allowed.reason == "app:holder-side:representative" and allowed.mode is Mode.APP
    gone = replace(writer, on_behalf=Relation.NONE)
    assert decide_profile_write(gone, LIVE, "measurement", "c").reason == "consent-holder-gone"


def test_srv2_acc9_apps_in_the_agenda() -> None:
    booker = _granted("patient/Appointment.c")
    assert decide_agenda_write(booker, LIVE).reason == "app:holder-side:self"
    assert not decide_agenda_read(booker, LIVE)  # creating is not reading
    assert not decide_agenda_change(booker, LIVE, "app", booker.principal.id)
    reader = _granted("patient/Appointment.rs")
    assert decide_agenda_read(reader, LIVE) and decide_agenda_read(reader, LIVE, interaction="r")
    assert decide_agenda_write(reader, LIVE).reason == "insufficient-scope"
    # as the holder: an app reads an appointment a professional entered, changes any with `.u`
    pro = uuid.uuid4()
    assert decide_agenda_read(reader, LIVE, "professional", pro, "r").mode is Mode.APP
    changer = _granted("patient/Appointment.ud")
    assert decide_agenda_change(changer, LIVE, "professional", pro)
    assert decide_agenda_change(changer, LIVE, "professional", pro, "d")
    assert decide_agenda_change(
        _granted("patient/Appointment.u"), LIVE, "app", pro, "d"
    ).reason == ("insufficient-scope")
    gone = replace(_granted("patient/Appointment.c"), on_behalf=Relation.NONE)
    assert decide_agenda_write(gone, LIVE).reason == "consent-holder-gone"


# -- scopes compared as permissions (ACC-9) ---------------------------------------------------

PATIENT_RS = ["openid", "launch/patient", "patient/Patient.rs"]


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        ("patient/Patient.rs", ["patient/Patient.rs"]),
        ("patient/Patient.r", ["patient/Patient.r"]),  # a subset, granted as that subset
        ("patient/Patient.s", ["patient/Patient.s"]),
        ("patient/Patient.read", ["patient/Patient.read"]),  # v1 name of .rs
        ("patient/*.rs", ["patient/Patient.rs"]),  # a wildcard is cut down to the listing
        ("patient/*.r", ["patient/Patient.r"]),
        ("patient/*.read openid", ["patient/Patient.rs", "openid"]),
        (
            "openid patient/Patient.r patient/*.rs",
            ["openid", "patient/Patient.r", "patient/Patient.rs"],
        ),
    ],
)
def test_acc9_a_subset_of_the_listing_is_granted_as_asked(asked: str, granted: list[str]) -> None:
    assert rules.grant(asked, PATIENT_RS) == granted


@pytest.mark.parametrize(
    "asked",
    [
        "patient/Patient.cruds",  # more interactions than listed
        "patient/Patient.write",  # v1 .write is .cud
        "patient/Patient.*",  # v1 * is .cruds
        "patient/Observation.rs",  # a type not listed
        "patient/*.cud",  # a wildcard with nothing in common with the listing
        "offline_access",  # a non-resource scope not listed
        "patient/Patient.rs user/Patient.rs",  # not understood
    ],
)
def test_acc9_more_than_the_listing_is_refused(asked: str) -> None:
    assert rules.grant(asked, PATIENT_RS) is None


def test_acc9_permissions_whatever_the_spelling() -> None:
    assert rules.permissions(["patient/Patient.read"]) == rules.permissions(["patient/Patient.rs"])
    assert rules.permissions(["patient/Patient.write"]) == rules.permissions(
        ["patient/Patient.cud"]
    )
    everything = rules.permissions(["patient/*.cruds"])
    assert len(everything) == len(rules.RESOURCE_TYPES) * len(rules.INTERACTIONS)
    assert rules.permissions(["patient/*.*"]) == everything
    # a wildcard listing grants any type's subset; a document scope covers its Binary
    assert rules.grant("patient/Observation.r patient/*.s", ["patient/*.rs"]) == [
        "patient/Observation.r",
        "patient/*.s",
    ]
    assert rules.within(["patient/Binary.r"], ["patient/DocumentReference.rs"])
    assert not rules.within(["patient/DocumentReference.r"], ["patient/Binary.rs"])
    # a listing respelt in v2 is no new ask; one asking for more is
    assert rules.covers(["patient/Patient.read"], ["patient/Patient.rs"])
    assert not rules.covers(["patient/Patient.read"], ["patient/Patient.cruds"])


def test_acc9_the_decision_point_compares_permissions() -> None:
    v1 = facts(granted=frozenset({"patient/DocumentReference.read"}))
    assert decide_app_scope(v1, "DocumentReference", "r")
    assert not decide_app_scope(v1, "DocumentReference", "c")
    narrowed = facts(listing=frozenset({"patient/DocumentReference.s"}), consented_listing=LISTING)
    assert decide_app_scope(narrowed, "DocumentReference", "s")
    assert not decide_app_scope(narrowed, "DocumentReference", "r")  # no longer listed


_TYPES = st.sampled_from(["*", "Patient", "DocumentReference", "Binary", "Observation"])
_LETTERS = st.sets(st.sampled_from(rules.INTERACTIONS), min_size=1).map(
    lambda found: "".join(c for c in rules.INTERACTIONS if c in found)
)
_SCOPE = st.one_of(
    st.builds(
        lambda t, i: f"patient/{t}.{i}",
        _TYPES,
        st.one_of(_LETTERS, st.sampled_from(list(rules.V1))),
    ),
    st.sampled_from(rules.NON_RESOURCE),
)


@given(asked=st.lists(_SCOPE, max_size=6), listing=st.lists(_SCOPE, max_size=6))
def test_acc9_a_grant_is_always_within_the_listing(asked: list[str], listing: list[str]) -> None:
    granted = rules.grant(asked, listing)
    if granted is None:
        return
    assert rules.within(granted, listing)
    assert rules.permissions(granted) <= rules.permissions(listing)
    assert {s for s in granted if s in rules.NON_RESOURCE} <= set(listing)
    if asked and rules.within(asked, listing) and not any("/*." in s for s in asked):
        assert granted == rules.split_scopes(asked)  # a subset is granted as asked


def test_acc9_advertised_scopes_follow_what_routes_open() -> None:
    opened = [("Patient", "r"), ("Patient", "s"), ("Observation", "s"), ("Observation", "c"),
              ("Observation", "r"), ("Binary", "r"), ("Unknown", "r"), ("Patient", "x")]  # fmt: skip
    assert rules.advertised_scopes(opened) == [
        "patient/Patient.rs",
        "patient/Binary.r",
        "patient/Observation.rs",
        "patient/Observation.crs",
    ]
    assert rules.advertised_scopes([]) == []
