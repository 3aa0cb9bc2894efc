"""The SQL face of the decision point returns exactly what `decide_document_read` allows, one by
one, for any actor (rules ACC-1…ACC-6, DOC-2…DOC-4, REP-2): searches never fetch, count or page
over a document the actor may not read."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from carnet.access import habilitations
from carnet.access.filters import readable_documents
from carnet.access.rules import (
    Actor,
    AppFacts,
    Care,
    DocumentFacts,
    Relation,
    SpaceFacts,
    decide_document_read,
)
from carnet.audit.rules import Mode
from carnet.auth.principal import Principal, PrincipalKind
from carnet.documents.models import Document
from tests.factories import make_holder

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
ME = uuid.uuid4()


@pytest.fixture
def grid(database):  # type: ignore[no-untyped-def]
    """Every combination of the flags the rules look at, in one holder's space."""
    rows = []
    with database.transaction() as session:
        holder = make_holder(session)
        holder_id = holder.id
        combos = itertools.product(
            habilitations.SENSITIVITIES, (False, True), ("current", "superseded", "entered-in-error"),
            ("visible", "hidden", "released"), (False, True), (True, False),
        )
        for n, (sensitivity, masked, status, patient, reps, mine) in enumerate(combos):
            rows.append({
                "id": uuid.uuid4(), "holder_id": holder_id, "master_identifier": f"urn:test:{n}",
                "source": "professional", "author_kind": "professional",
                "author_id": ME if mine else uuid.uuid4(), "category": "AUTR_DOC",
                "sensitivity": sensitivity, "title_sealed": b"x", "deposited_at": NOW,
                "updated_at": NOW, "mime_type": "application/pdf", "size": 1, "sha256": "0" * 64,
                "sha1": "0" * 40, "blob_id": "0" * 32, "status": status, "version": 1,
                "masked": masked, "invisible_to_patient": patient != "visible",
                "visible_to_patient_from": {
                    "visible": None, "hidden": NOW + dt.timedelta(days=3),
                    "released": NOW - dt.timedelta(days=3),
                }[patient],
                "invisible_to_representatives": reps, "not_deletable": False, "pinned": False,
            })
        session.execute(insert(Document), rows)
    with database.transaction() as session:
        docs = session.scalars(select(Document).where(Document.holder_id == holder_id)).all()
        session.expunge_all()
    return holder_id, docs


actors = st.fixed_dictionaries({
    "relation": st.sampled_from(list(Relation)),
    "profession": st.sampled_from(["10", "21", "40", "50", "60", "70", "80", "91", "92", "99"]),
    "care": st.sampled_from(list(Care)),
    "administrator": st.booleans(),
    "express": st.booleans(),
    "grant": st.sampled_from([None, Mode.EMERGENCY, Mode.REGULATION]),
    "state": st.sampled_from(["open", "active", "closed", "notified"]),
    "regulator": st.booleans(),
    "emergency": st.booleans(),
    "masked_in_emergency": st.booleans(),
    # ACC-9: used when the relation is APP.
    "app_status": st.sampled_from(["online", "offline", "suspended", "delisted"]),
    "on_behalf": st.sampled_from([Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER,
                                  Relation.NONE]),
    # Search (s) and read (r) granted together, so that one-by-one reads compare with searches.
    "scope": st.sampled_from(["patient/DocumentReference.rs", "patient/*.rs",
                              "patient/DocumentReference.cruds", "patient/Observation.rs"]),
    "asks_more": st.booleans(),
    "other_space": st.booleans(),
})


def app_facts(a: dict, holder_id: uuid.UUID) -> AppFacts | None:  # type: ignore[type-arg]
    if a["relation"] is not Relation.APP:
        return None
    listed = frozenset({"launch/patient", a["scope"]})
    return AppFacts(
        status=a["app_status"], space_id=uuid.uuid4() if a["other_space"] else holder_id,
        granted=listed, consented_listing=listed,
        listing=listed | {"patient/Condition.rs"} if a["asks_more"] else listed,
    )


def facts(doc: Document) -> DocumentFacts:
    return DocumentFacts(doc.author_kind, doc.author_id, doc.sensitivity, doc.status, doc.masked,
                         doc.invisible_to_patient, doc.visible_to_patient_from,
                         doc.invisible_to_representatives)


@settings(max_examples=1000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actors)
def test_sql_filter_equals_one_by_one_decisions(grid, database, a) -> None:  # type: ignore[no-untyped-def]
    holder_id, docs = grid
    kind = PrincipalKind.REGULATOR if a["relation"] is Relation.REGULATOR else PrincipalKind.PROFESSIONAL
    actor = Actor(
        Principal(kind, ME), a["relation"], profession_code=a["profession"], care=a["care"],
        administrator=a["administrator"], needs_express_authorisation=a["express"], grant=a["grant"],
        readable=habilitations.load().get(a["profession"], frozenset()),
        app=app_facts(a, holder_id), on_behalf=a["on_behalf"],
    )
    space = SpaceFacts(holder_id, a["state"], a["regulator"], a["emergency"], a["masked_in_emergency"])
    with database.transaction() as session:
        found = set(session.scalars(select(Document.id).where(readable_documents(actor, space, NOW))))
    expected = {d.id for d in docs if decide_document_read(actor, space, facts(d), NOW)}
    assert found == expected
