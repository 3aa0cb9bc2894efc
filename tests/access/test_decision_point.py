"""The policy decision point against a naive model of rules.md, and its SQL face against itself
(rules ACC-1…ACC-6, DOC-2, DOC-3, DOC-4, REP-2)."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.access import habilitations
from carnet.access.rules import (
    Actor,
    AppFacts,
    Care,
    DocumentFacts,
    Relation,
    SpaceFacts,
    decide_deposit,
    decide_document_read,
    decide_emergency_grant,
)
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind
from tests.access import naive

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

worlds = st.builds(
    naive.World,
    space_state=st.sampled_from(["notified", "open", "active", "closed", "suspended"]),
    who=st.sampled_from(
        ["holder", "representative", "caregiver", "professional", "regulator", "stranger"]
    ),
    profession=st.sampled_from([*sorted(naive.MATRIX), "99"]),
    care=st.sampled_from(["none", "declared", "authorised", "blocked"]),
    administrator=st.booleans(),
    express_needed=st.booleans(),
    grant=st.sampled_from(["none", "emergency", "regulation"]),
    regulator_switch=st.booleans(),
    emergency_switch=st.booleans(),
    masked_in_emergency=st.booleans(),
    is_author=st.booleans(),
    sensitivity=st.sampled_from(habilitations.SENSITIVITIES),
    status=st.sampled_from(["current", "superseded", "entered-in-error"]),
    masked=st.booleans(),
    invisible_to_patient=st.booleans(),
    visible_from_past=st.booleans(),
    invisible_to_representatives=st.booleans(),
)

_RELATIONS = {
    "holder": Relation.SELF,
    "representative": Relation.REPRESENTATIVE,
    "caregiver": Relation.CAREGIVER,
    "professional": Relation.PROFESSIONAL,
    "regulator": Relation.REGULATOR,
    "stranger": Relation.NONE,
}


def to_facts(w: naive.World) -> tuple[Actor, SpaceFacts, DocumentFacts]:
    me = uuid.uuid4()
    kind = PrincipalKind.HOLDER if w.who in ("holder", "representative", "caregiver", "stranger") else (
        PrincipalKind.REGULATOR if w.who == "regulator" else PrincipalKind.PROFESSIONAL
    )
    clinician = w.who in ("professional", "regulator")
    actor = Actor(
        Principal(kind, me),
        _RELATIONS[w.who],
        profession_code=w.profession if clinician else None,
        care=Care(w.care) if clinician else Care.NONE,
        administrator=w.administrator if clinician else False,
        needs_express_authorisation=w.express_needed,
        grant={"none": None, "emergency": Mode.EMERGENCY, "regulation": Mode.REGULATION}[w.grant],
        readable=habilitations.load().get(w.profession, frozenset()) if clinician else frozenset(),
    )
    space = SpaceFacts(uuid.uuid4(), w.space_state, w.regulator_switch, w.emergency_switch,
                       w.masked_in_emergency)
    visible_from = None
    if w.invisible_to_patient:
        visible_from = NOW - dt.timedelta(days=1) if w.visible_from_past else NOW + dt.timedelta(days=9)
    doc = DocumentFacts(
        author_kind="professional" if w.is_author else "holder",
        author_id=me if w.is_author else uuid.uuid4(),
        sensitivity=w.sensitivity,
        status=w.status,
        masked=w.masked,
        invisible_to_patient=w.invisible_to_patient,
        visible_to_patient_from=visible_from,
        invisible_to_representatives=w.invisible_to_representatives,
    )
    return actor, space, doc


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(worlds)
def test_decision_point_agrees_with_the_naive_model(w: naive.World) -> None:
    actor, space, doc = to_facts(w)
    assert bool(decide_document_read(actor, space, doc, NOW)) == naive.may_read(w, NOW), w


SCOPES = [
    "patient/DocumentReference.rs",
    "patient/DocumentReference.r",
    "patient/DocumentReference.s",
    "patient/Observation.rs",
    "patient/*.rs",
    "patient/DocumentReference.read",
]
LISTED = frozenset({"launch/patient", "patient/DocumentReference.rs", "patient/Observation.rs"})
app_worlds = st.builds(
    lambda w, **app: naive.World(**{**w.__dict__, **app}),
    worlds.filter(lambda w: w.who in ("holder", "stranger")),
    app_status=st.sampled_from(["online", "offline", "suspended", "delisted"]),
    app_connected_by=st.sampled_from(["holder", "representative", "caregiver", "gone"]),
    app_scope=st.sampled_from(SCOPES),
    app_asks_more=st.booleans(),
    app_other_space=st.booleans(),
)

_ON_BEHALF = {
    "holder": Relation.SELF,
    "representative": Relation.REPRESENTATIVE,
    "caregiver": Relation.CAREGIVER,
    "gone": Relation.NONE,
}


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(app_worlds)
def test_acc9_apps_agree_with_the_naive_model(w: naive.World) -> None:
    """ACC-9: the decision point for an app token against the naive restatement of the rule."""
    _actor, space, doc = to_facts(w)
    granted = frozenset({"launch/patient", w.app_scope})
    listed = LISTED | {w.app_scope}
    app = AppFacts(
        status=w.app_status,
        space_id=uuid.uuid4() if w.app_other_space else space.holder_id,
        granted=granted,
        consented_listing=listed,
        listing=listed | {"patient/Condition.rs"} if w.app_asks_more else listed,
    )
    actor = Actor(
        Principal(PrincipalKind.APP, uuid.uuid4()),
        Relation.APP,
        app=app,
        on_behalf=_ON_BEHALF[w.app_connected_by],
    )
    assert bool(decide_document_read(actor, space, doc, NOW)) == naive.app_may_read(w, NOW), w


def test_matrix_shipped_is_the_design_matrix() -> None:
    matrix = habilitations.load()
    assert {code: set(s) for code, s in matrix.items()} == naive.MATRIX
    assert all("administrative" not in s for s in matrix.values())


def pro(care: Care = Care.NONE, **kw: object) -> Actor:
    values: dict[str, object] = {
        "profession_code": "10",
        "care": care,
        "readable": habilitations.load()["10"],
    }
    values.update(kw)
    return Actor(Principal(PrincipalKind.PROFESSIONAL, uuid.uuid4()), Relation.PROFESSIONAL, **values)  # type: ignore[arg-type]


SPACE = SpaceFacts(uuid.uuid4(), "active")


def doc(**kw: object) -> DocumentFacts:
    values: dict[str, object] = dict(
        author_kind="professional", author_id=uuid.uuid4(), sensitivity="general",
        status="current", masked=False, invisible_to_patient=False, visible_to_patient_from=None,
        invisible_to_representatives=False,
    )
    values.update(kw)
    return DocumentFacts(**values)  # type: ignore[arg-type]


def test_acc1_care_team_reads_general_documents() -> None:
    assert decide_document_read(pro(Care.AUTHORISED), SPACE, doc(), NOW)
    assert decide_document_read(pro(Care.DECLARED), SPACE, doc(), NOW)
    assert decide_document_read(pro(Care.NONE), SPACE, doc(), NOW).reason == "not-in-care-team"


def test_acc1_profession_matrix() -> None:
    dentist = pro(Care.AUTHORISED, profession_code="40", readable=habilitations.load()["40"])
    assert not decide_document_read(dentist, SPACE, doc(sensitivity="psy"), NOW)
    assert decide_document_read(dentist, SPACE, doc(sensitivity="general"), NOW)
    unknown = pro(Care.AUTHORISED, profession_code="99", readable=frozenset())
    assert decide_document_read(unknown, SPACE, doc(), NOW).reason == "profession-not-habilitated"


def test_acc2_blocked_professional_deposits_but_reads_nothing() -> None:
    blocked = pro(Care.BLOCKED)
    assert decide_deposit(blocked, SPACE)
    assert decide_document_read(blocked, SPACE, doc(), NOW).reason == "blocked"


def test_acc3_occupational_physicians_need_express_authorisation() -> None:
    occupational = pro(Care.DECLARED, needs_express_authorisation=True)
    assert not decide_document_read(occupational, SPACE, doc(), NOW)
    assert decide_document_read(pro(Care.AUTHORISED, needs_express_authorisation=True), SPACE, doc(), NOW)


def test_acc4_administrators_see_masked_documents() -> None:
    assert not decide_document_read(pro(Care.AUTHORISED), SPACE, doc(masked=True), NOW)
    assert decide_document_read(pro(Care.AUTHORISED, administrator=True), SPACE, doc(masked=True), NOW)


def test_acc5_acc6_emergency_and_regulation_respect_the_switches() -> None:
    emergency = pro(Care.NONE, grant=Mode.EMERGENCY)
    decision = decide_document_read(emergency, SPACE, doc(), NOW)
    assert decision and decision.mode is Mode.EMERGENCY
    opposed = SpaceFacts(SPACE.holder_id, "active", emergency_allowed=False)
    assert decide_document_read(emergency, opposed, doc(), NOW).reason == "emergency-opposed"
    assert not decide_document_read(emergency, SPACE, doc(masked=True), NOW)
    allowing = SpaceFacts(SPACE.holder_id, "active", masked_in_emergency=True)
    assert decide_document_read(emergency, allowing, doc(masked=True), NOW)
    regulator = Actor(Principal(PrincipalKind.REGULATOR, uuid.uuid4()), Relation.REGULATOR,
                      profession_code="10", grant=Mode.REGULATION,
                      readable=habilitations.load()["10"])
    assert decide_document_read(regulator, SPACE, doc(), NOW).mode is Mode.REGULATION
    no_reg = SpaceFacts(SPACE.holder_id, "active", regulator_allowed=False)
    assert not decide_document_read(regulator, no_reg, doc(), NOW)
    assert not decide_emergency_grant(pro(), SPACE, "   ")
    assert decide_emergency_grant(pro(), opposed, "unconscious").reason == "emergency-opposed"
    assert decide_emergency_grant(regulator, no_reg, "call 15").reason == "regulation-opposed"


def test_id1_patient_identity_for_the_holder_side_and_professionals_on_open_spaces() -> None:
    from carnet.access.rules import decide_patient_read

    holder = Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), Relation.SELF)
    stranger = Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), Relation.NONE)
    closed = SpaceFacts(SPACE.holder_id, "closed")
    assert decide_patient_read(holder, closed)
    assert decide_patient_read(pro(), SPACE)
    assert decide_patient_read(pro(), closed).reason == "space-not-open"
    assert decide_patient_read(stranger, SPACE).reason == "no-relation"


def test_acc4_a_gp_declaration_is_a_physicians_proposal_the_holder_side_answers() -> None:
    """ACC-4, ACC-6: a physician only proposes to be the GP (a blocked one, nothing: ACC-3); the
    holder or a representative answers (REP-1, REP-5), a caregiver may not (REP-4), nor anyone
    else; only a pending proposal, and not for a physician blocked since."""
    from carnet.access.rules import decide_gp_answer, decide_gp_proposal

    assert decide_gp_proposal(pro(), SPACE).reason == "gp-proposal"
    assert decide_gp_proposal(pro(Care.AUTHORISED), SPACE)
    assert decide_gp_proposal(pro(profession_code="60"), SPACE).reason == "gp-must-be-physician"
    assert decide_gp_proposal(pro(Care.BLOCKED), SPACE).reason == "blocked"
    assert decide_gp_proposal(pro(), SpaceFacts(SPACE.holder_id, "closed")).reason == (
        "space-not-open"
    )
    holder = Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), Relation.SELF)
    assert decide_gp_proposal(holder, SPACE).reason == "not-a-professional"

    def answer(actor: Actor, *, pending: bool = True, candidate: Care = Care.DECLARED,
               confirm: bool = True, space: SpaceFacts = SPACE) -> str:  # fmt: skip
        return decide_gp_answer(
            actor, space, pending=pending, candidate=candidate, confirm=confirm
        ).reason

    representative = Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), Relation.REPRESENTATIVE)
    caregiver = Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), Relation.CAREGIVER)
    assert answer(holder) == "gp-confirmed"
    assert answer(holder, confirm=False) == "gp-declined"
    assert answer(representative) == "gp-confirmed"
    assert decide_gp_answer(
        representative, SPACE, pending=True, candidate=Care.NONE, confirm=True
    ).mode is Mode.REPRESENTATIVE
    assert answer(caregiver) == "not-allowed"
    assert answer(pro(Care.AUTHORISED, administrator=True)) == "not-allowed"
    assert answer(holder, pending=False) == "no-gp-proposal"
    assert answer(holder, candidate=Care.BLOCKED) == "gp-candidate-blocked"
    assert answer(holder, candidate=Care.BLOCKED, confirm=False) == "gp-declined"
    assert answer(holder, space=SpaceFacts(SPACE.holder_id, "suspended")) == "space-not-open"
