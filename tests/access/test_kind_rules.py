"""The decisions taken on the principal's kind alone, each for exactly one kind (REP-1, REP-4,
REP-5, ACC-9, SRV-3, SRV-1): every other kind is refused, with a reason saying why."""

from __future__ import annotations

import pytest

from carnet.access.rules import (
    decide_app_consent,
    decide_message_send_fhir,
    decide_space_choice,
)
from carnet.auth.principal import PrincipalKind

OTHERS_THAN_HOLDER = [kind for kind in PrincipalKind if kind is not PrincipalKind.HOLDER]
OTHERS_THAN_PROFESSIONAL = [
    kind for kind in PrincipalKind if kind is not PrincipalKind.PROFESSIONAL
]


def test_a_holder_chooses_the_space_acted_on() -> None:
    decision = decide_space_choice(PrincipalKind.HOLDER)
    assert decision.allowed
    assert decision.reason == "holder"


@pytest.mark.parametrize("kind", OTHERS_THAN_HOLDER)
def test_nobody_else_names_a_space(kind: PrincipalKind) -> None:
    """A representative or caregiver signs in as a holder; professionals, regulators, apps,
    operators and the system reach a space otherwise, or not at all."""
    decision = decide_space_choice(kind)
    assert not decision.allowed
    assert decision.reason == "not-a-holder"


def test_a_holder_connects_an_app() -> None:
    decision = decide_app_consent(PrincipalKind.HOLDER)
    assert decision.allowed
    assert decision.reason == "holder"


@pytest.mark.parametrize("kind", OTHERS_THAN_HOLDER)
def test_no_other_session_consents_for_a_space(kind: PrincipalKind) -> None:
    decision = decide_app_consent(kind)
    assert not decision.allowed
    assert decision.reason == "not-a-holder"


def test_a_professional_sends_through_fhir() -> None:
    decision = decide_message_send_fhir(PrincipalKind.PROFESSIONAL)
    assert decision.allowed
    assert decision.reason == "professional"


@pytest.mark.parametrize("kind", OTHERS_THAN_PROFESSIONAL)
def test_nobody_else_sends_through_fhir(kind: PrincipalKind) -> None:
    """The holder side writes in the JSON API and the portal; a regulator, an app, an operator
    send no FHIR message."""
    decision = decide_message_send_fhir(kind)
    assert not decision.allowed
    assert decision.reason == "not-a-professional"
