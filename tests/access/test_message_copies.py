"""The decision on a copy of a record document (a message attachment) is the direct read's
decision on its source (rules SRV-1, ACC-1, DOC-3, REP-2, DOC-4), and a gone source stays with
the holder side only (Carnet decision, DOC-6)."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings

from carnet.access.rules import (
    Actor,
    Care,
    Relation,
    SpaceFacts,
    decide_document_read,
    decide_message_copy,
)
from carnet.auth.principal import Principal, PrincipalKind
from tests.access import naive
from tests.access.test_decision_point import NOW, to_facts, worlds


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(worlds)
def test_srv1_a_copy_is_read_exactly_as_its_source(w: naive.World) -> None:
    """SRV-1, ACC-1, DOC-3, REP-2, DOC-4: for every reader and every flag, the copy's decision is
    the direct read's (same verdict, reason and mode), so it agrees with rules.md as well."""
    actor, space, doc = to_facts(w)
    copy = decide_message_copy(actor, space, doc, NOW)
    assert copy == decide_document_read(actor, space, doc, NOW)
    assert bool(copy) == naive.may_read(w, NOW), w


def _actor(relation: Relation, care: Care = Care.NONE) -> Actor:
    kind = PrincipalKind.PROFESSIONAL if relation is Relation.PROFESSIONAL else PrincipalKind.HOLDER
    return Actor(Principal(kind, uuid.uuid4()), relation, care=care)


def test_carnet_decision_a_copy_of_a_deleted_document_stays_with_the_holder_side() -> None:
    """DOC-6 (Carnet decision): nothing remains to decide on, so professionals are refused,
    even of the care team; the holder side keeps what is in its mailbox while the space is open."""
    space = SpaceFacts(uuid.uuid4(), "active")
    for relation in (Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER):
        assert decide_message_copy(_actor(relation), space, None, NOW)
    refused = decide_message_copy(_actor(Relation.PROFESSIONAL, Care.AUTHORISED), space, None, NOW)
    assert not refused and refused.reason == "source-deleted"
    closed = SpaceFacts(uuid.uuid4(), "closed")
    assert not decide_message_copy(_actor(Relation.SELF), closed, None, NOW)
