"""The SRV-1 decisions of the decision point and the pure messaging rules, clause by clause."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from carnet.access.rules import (
    Actor,
    Care,
    Relation,
    SpaceFacts,
    decide_conversation_end,
    decide_message_read,
    decide_message_recipient,
    decide_message_reply,
    decide_message_start,
)
from carnet.auth.principal import Principal, PrincipalKind
from carnet.messaging import rules

SPACE = SpaceFacts(holder_id=uuid.uuid4(), state="active")
CLOSED = SpaceFacts(holder_id=uuid.uuid4(), state="closed")


def pro(care: Care = Care.AUTHORISED, profession: str = "10", **kw: object) -> Actor:
    principal = Principal(PrincipalKind.PROFESSIONAL, uuid.uuid4())
    return Actor(principal, Relation.PROFESSIONAL, profession_code=profession, care=care, **kw)  # type: ignore[arg-type]


def holder_side(relation: Relation = Relation.SELF) -> Actor:
    return Actor(Principal(PrincipalKind.HOLDER, uuid.uuid4()), relation)


def test_srv1_a_professional_writes_first_only_in_the_care_team() -> None:
    assert decide_message_start(pro(), SPACE, qualified=True)
    assert decide_message_start(pro(Care.DECLARED), SPACE, qualified=True)
    assert decide_message_start(pro(Care.NONE), SPACE, qualified=True).reason == "not-in-care-team"
    assert decide_message_start(pro(Care.BLOCKED), SPACE, qualified=True).reason == "blocked"
    # ACC-3: occupational physicians need express authorisation, a declaration is not enough.
    occupational = pro(Care.DECLARED, needs_express_authorisation=True)
    assert not decide_message_start(occupational, SPACE, qualified=True)
    regulator = Actor(pro().principal, Relation.REGULATOR, care=Care.AUTHORISED)
    assert not decide_message_start(regulator, SPACE, qualified=True)
    assert decide_message_start(pro(), CLOSED, qualified=True).reason == "space-not-open"


def test_id3_a_professional_writes_only_to_a_qualified_identity() -> None:
    assert decide_message_start(pro(), SPACE, qualified=False).reason == "ins-not-qualified"


@pytest.mark.parametrize("relation", [Relation.SELF, Relation.REPRESENTATIVE, Relation.CAREGIVER])
def test_srv1_the_holder_side_writes_first_only_to_a_dispensing_pharmacy(
    relation: Relation,
) -> None:
    assert decide_message_start(holder_side(relation), SPACE, qualified=False)
    pharmacy = pro(Care.NONE, profession="21")
    assert decide_message_recipient(pharmacy, SPACE, holder_started=True, dispensed=True)
    refused = decide_message_recipient(pharmacy, SPACE, holder_started=True, dispensed=False)
    assert refused.reason == "not-a-dispensing-pharmacy"
    physician = pro(profession="10")
    assert not decide_message_recipient(physician, SPACE, holder_started=True, dispensed=True)


def test_srv1_cc_recipients_of_a_professional_must_be_in_the_care_team() -> None:
    assert decide_message_recipient(pro(), SPACE, holder_started=False, dispensed=False)
    outsider = decide_message_recipient(
        pro(Care.NONE), SPACE, holder_started=False, dispensed=False
    )
    assert outsider.reason == "recipient-not-in-care-team"
    blocked = decide_message_recipient(
        pro(Care.BLOCKED), SPACE, holder_started=False, dispensed=True
    )
    assert blocked.reason == "recipient-blocked"


def test_srv1_replies_until_a_professional_ends_the_conversation() -> None:
    assert decide_message_reply(holder_side(), SPACE, participant=True, ended=False)
    assert decide_message_reply(holder_side(), SPACE, participant=True, ended=True).reason == (
        "conversation-ended"
    )
    assert decide_message_reply(pro(), SPACE, participant=True, ended=True).reason == (
        "conversation-ended"
    )
    assert not decide_message_reply(pro(), SPACE, participant=False, ended=False)


def test_srv1_only_a_participating_professional_ends_or_reads() -> None:
    assert decide_conversation_end(pro(), SPACE, participant=True)
    assert not decide_conversation_end(pro(), SPACE, participant=False)
    assert decide_conversation_end(holder_side(), SPACE, participant=True).reason == (
        "not-a-professional"
    )
    assert decide_message_read(holder_side(Relation.CAREGIVER), SPACE, participant=True)
    assert decide_message_read(pro(Care.NONE), SPACE, participant=True)  # taking part is enough
    assert not decide_message_read(pro(Care.BLOCKED), SPACE, participant=True)  # ACC-3
    assert not decide_message_read(holder_side(Relation.NONE), SPACE, participant=True)


def test_srv1_quota_and_sizes() -> None:
    assert rules.message_size("é", "ab", [10, 5]) == 2 + 2 + 15
    assert not rules.over_quota(90, 10, 100)
    assert rules.over_quota(91, 10, 100)
    assert not rules.over_quota(500, 0, 100)  # sending a counted draft adds nothing
    assert rules.body_problem("  ", draft=False) and not rules.body_problem("", draft=True)
    assert rules.subject_problem("a\nb") and not rules.subject_problem("Résultats")
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert rules.is_read(now, now) and not rules.is_read(None, now)
