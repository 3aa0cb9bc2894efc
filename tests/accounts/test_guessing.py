"""Opposition and activation reveal nothing and cannot be blocked by strangers (LC-2, LC-4).

Wrong codes count per client address and against a global budget (`auth.throttle`), never per
person: a stranger typing wrong codes for someone's NIR learns nothing about them and cannot keep
them from opposing. Each request here comes from a chosen address (`from_address`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from carnet import clock
from carnet.accounts import lifecycle
from carnet.accounts import purge as purge_service
from carnet.accounts import rules as account_rules
from carnet.accounts.models import Holder
from carnet.app import create_app
from carnet.auth.principal import SYSTEM
from carnet.config import Settings
from carnet.db import Database
from carnet.notifications.models import OutboxMessage
from carnet.vault.service import Vault
from tests.accounts.test_api_lifecycle import (
    activation_body,
    assert_error,
    notified_holder,
    today,
)
from tests.factories import make_holder

WRONG = "AAAA-AAAA-AAAA"
# Every state a space can be in, plus a purged space (tombstone only) and a NIR nobody has.
STATES = (
    "notified",
    "open",
    "active",
    "opposed",
    "closed",
    "purge-pending",
    "suspended",
    "purged",
    "unknown",
)
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def from_address(app: FastAPI, address: str | None = None) -> TestClient:
    """A client whose requests come from `address` (a fresh one by default)."""
    return TestClient(
        app, client=(address or next(_addresses), 50000), raise_server_exceptions=False
    )


def person_in(database: Database, vault: Vault, settings: Settings, state: str) -> str:
    """The NIR of someone whose space is in `state` and who received a code while notified."""
    with database.transaction() as session:
        holder = make_holder(
            session,
            state="notified",
            notified_on=today(settings),
            opposition_deadline=today(settings) + dt.timedelta(weeks=settings.opposition_weeks),
            email="someone@example.org",
        )
        lifecycle.issue_code(session, vault, settings, holder)
        nir = holder.nir
        if state == "unknown":
            session.delete(holder)
        elif state == "purged":
            holder.state = account_rules.CLOSED
            holder.closed_on = today(settings)
            purge_service.purge(session, vault, settings, holder)
        elif state == "active":
            holder.state = state
            holder.username = f"user{nir[-6:]}"
            holder.password_hash = "$argon2id$not-a-real-hash"
        else:
            holder.state = state
    return nir


def answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Status and JSON body, without the request id (different for every request)."""
    body = response.json()
    body.get("error", {}).pop("request_id", None)
    return response.status_code, body


def wrong_code_body(endpoint: str, nir: str) -> dict[str, Any]:
    if endpoint == "/api/v1/opposition":
        return {"nir": nir, "code": WRONG}
    return {
        "nir": nir,
        "code": WRONG,
        "birth_date": "1980-01-01",
        "username": "someone",
        "password": "violet lighthouse 42 orbit",
        "email": "someone@example.org",
    }


@pytest.mark.parametrize("endpoint", ["/api/v1/opposition", "/api/v1/activation"])
def test_known_and_unknown_nirs_answer_alike_in_every_state(
    endpoint: str, app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2, LC-4: after a stranger's many wrong codes, a wrong code on anyone's NIR, in any state
    (notified, open, active, opposed, closed, purge pending, suspended, purged), gets exactly the
    answer of a NIR nobody has: same status, same JSON body (request id aside)."""
    nirs = {state: person_in(database, vault, settings, state) for state in STATES}
    for nir in nirs.values():  # a stranger hammers every NIR, from addresses of their own
        for _ in range(settings.client_free_failures + 2):
            from_address(app).post(endpoint, json=wrong_code_body(endpoint, nir))
    answers = {
        state: answer(from_address(app).post(endpoint, json=wrong_code_body(endpoint, nir)))
        for state, nir in nirs.items()
    }
    assert answers["unknown"][0] == 401
    assert answers["unknown"][1]["error"]["code"] == "bad-code"
    for state, seen in answers.items():
        assert seen == answers["unknown"], state


def test_a_stranger_cannot_keep_the_holder_from_opposing(
    app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: a stranger sends many wrong codes for a person's NIR; the person, from their own
    address, opposes at once with the right code (no lock per person)."""
    victim = notified_holder(database, vault, settings)
    stranger = from_address(app, "203.0.113.66")
    base = clock.now()
    for attempt in range(4 * settings.client_free_failures):
        # Patient: each try after the stranger's own wait, so every one of them is checked.
        with clock.frozen_at(
            base + attempt * dt.timedelta(seconds=settings.client_max_wait_seconds)
        ):
            tried = stranger.post("/api/v1/opposition", json={"nir": victim.nir, "code": WRONG})
        assert_error(tried, 401, "bad-code")
    with clock.frozen_at(base + attempt * dt.timedelta(seconds=settings.client_max_wait_seconds)):
        opposed = from_address(app, "198.51.100.7").post(
            "/api/v1/opposition", json={"nir": victim.nir, "code": victim.code}
        )
    assert opposed.status_code == 201, opposed.text


def test_a_stranger_cannot_keep_the_holder_from_activating(
    app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-4: the same for activation: the holder's right code works whatever a stranger typed."""
    victim = notified_holder(database, vault, settings)
    stranger = from_address(app, "203.0.113.67")
    for _ in range(3 * settings.client_free_failures):
        stranger.post("/api/v1/activation", json=activation_body(victim, code=WRONG))
    done = from_address(app, "198.51.100.8").post(
        "/api/v1/activation", json=activation_body(victim)
    )
    assert done.status_code == 201, done.text


def test_a_client_that_keeps_guessing_waits_longer_and_longer(
    app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: past a few free mistakes, a guessing client waits 1, 2, 4 … seconds (429 with
    Retry-After and a clear message), even for a right code; another client is not slowed."""
    victim = notified_holder(database, vault, settings)
    guesser = from_address(app, "203.0.113.99")
    base = clock.now()
    with clock.frozen_at(base):
        for _ in range(settings.client_free_failures + 1):
            assert_error(
                guesser.post("/api/v1/opposition", json={"nir": victim.nir, "code": WRONG}),
                401,
                "bad-code",
            )
        slowed = guesser.post("/api/v1/opposition", json={"nir": victim.nir, "code": victim.code})
        error = assert_error(slowed, 429, "too-many-attempts")
        assert slowed.headers["Retry-After"] == "1"
        assert "wait 1 second(s)" in error["message"]
    with clock.frozen_at(base + dt.timedelta(seconds=1)):
        assert_error(
            guesser.post("/api/v1/opposition", json={"nir": victim.nir, "code": WRONG}),
            401,
            "bad-code",
        )
        slowed = guesser.post("/api/v1/opposition", json={"nir": victim.nir, "code": WRONG})
        assert_error(slowed, 429, "too-many-attempts")
        assert slowed.headers["Retry-After"] == "2"
        other = from_address(app, "198.51.100.9").post(
            "/api/v1/opposition", json={"nir": victim.nir, "code": victim.code}
        )
    assert other.status_code == 201, other.text


def test_past_the_global_budget_everyone_waits_only_seconds(
    settings: Settings, database: Database, vault: Vault
) -> None:
    """LC-2: all clients together get a budget of failures per window (many addresses cannot
    guess faster); past it, everyone waits until the window ends — a few seconds, then the right
    code from the right person goes through."""
    small = settings.model_copy(update={"global_failures_per_window": 3})
    app = create_app(small, database)
    app.state.vault = vault
    victim = notified_holder(database, vault, small)
    base = clock.now()
    with clock.frozen_at(base):
        for _ in range(3):
            tried = from_address(app).post(
                "/api/v1/opposition", json={"nir": victim.nir, "code": WRONG}
            )
            assert_error(tried, 401, "bad-code")
        held = from_address(app).post(
            "/api/v1/opposition", json={"nir": victim.nir, "code": victim.code}
        )
        assert_error(held, 429, "too-many-attempts")
        assert 1 <= int(held.headers["Retry-After"]) <= small.global_window_seconds
    with clock.frozen_at(base + dt.timedelta(seconds=small.global_window_seconds)):
        opposed = from_address(app).post(
            "/api/v1/opposition", json={"nir": victim.nir, "code": victim.code}
        )
    assert opposed.status_code == 201, opposed.text


def test_an_unknown_nir_costs_the_same_work_as_a_wrong_code(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LC-2, LC-4: no timing oracle — for an unknown NIR the check computes the same keyed hash of
    the code and runs the same SQL statements as for a wrong code on a known NIR in any state
    (counted, not timed)."""
    hashes: list[str] = []
    keyed_hash = Vault.keyed_hash

    def counting(self: Vault, session: Any, name: str, value: str) -> str:
        if name == lifecycle.CODE_KEY:
            hashes.append(name)
        return keyed_hash(self, session, name, value)

    monkeypatch.setattr(Vault, "keyed_hash", counting)
    nirs = {state: person_in(database, vault, settings, state) for state in STATES}
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(str(args[2]).split()[0])

    with database.transaction() as session:  # warm up: system keys, chain heads
        lifecycle.check_code(session, vault, settings, nirs["unknown"], WRONG, client="192.0.2.1")
    event.listen(database.engine, "before_cursor_execute", on_execute)
    try:
        costs = {}
        for n, (state, nir) in enumerate(nirs.items(), start=2):
            hashes.clear()
            statements.clear()
            with database.transaction() as session:
                check = lifecycle.check_code(
                    session, vault, settings, nir, WRONG, client=f"192.0.2.{n}"
                )
            assert check.holder is None and check.error is not None
            costs[state] = (len(hashes), list(statements), check.error.code)
    finally:
        event.remove(database.engine, "before_cursor_execute", on_execute)
    assert costs["unknown"][0] == 1
    for state, cost in costs.items():
        assert cost == costs["unknown"], state


def test_a_stranger_asking_renewals_does_not_void_the_code_on_its_way(
    app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2: anyone may ask for a renewal for a NIR; that must not void the code the person
    holds (otherwise a stranger could keep a person who gets codes by post from opposing). The
    renewed codes go to the person only."""
    victim = notified_holder(database, vault, settings, email="victim@example.org")
    stranger = from_address(app, "203.0.113.70")
    for _ in range(3):
        asked = stranger.post("/api/v1/renewal", json={"nir": victim.nir})
        assert asked.status_code == 202
    with database.transaction() as session:
        sent = session.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.kind == "account.renewal")
        ).all()
    assert sent == ["victim@example.org"] * 3
    opposed = from_address(app, "198.51.100.10").post(
        "/api/v1/opposition", json={"nir": victim.nir, "code": victim.code}
    )
    assert opposed.status_code == 201, opposed.text


def test_renewal_requests_are_throttled_per_client_and_answer_alike(
    app: FastAPI, database: Database, vault: Vault, settings: Settings
) -> None:
    """LC-2, LC-4: asking for codes is counted per client, whoever the NIR belongs to (429 with
    Retry-After past a few requests); known and unknown NIRs get the same answer."""
    known = notified_holder(database, vault, settings, email="known@example.org")
    unknown = person_in(database, vault, settings, "unknown")
    asker = from_address(app, "203.0.113.71")
    with clock.frozen_at(clock.now()):
        for n in range(settings.client_free_failures + 1):
            nir = known.nir if n % 2 else unknown
            asked = asker.post("/api/v1/renewal", json={"nir": nir})
            assert (asked.status_code, asked.json()) == (202, {"status": "sent-if-known"})
        slowed = asker.post("/api/v1/renewal", json={"nir": known.nir})
    assert_error(slowed, 429, "too-many-attempts")
    assert slowed.headers["Retry-After"] == "1"


def test_a_used_code_voids_the_persons_other_codes(
    session: Any, vault: Vault, settings: Settings
) -> None:
    """LC-4: renewals leave earlier codes valid, but a code serves once: using one voids the
    others, so no spare code outlives the opposition or the activation."""
    holder = make_holder(
        session,
        state="notified",
        notified_on=clock.today(),
        opposition_deadline=clock.today() + dt.timedelta(weeks=6),
        email="x@example.org",
    )
    first = lifecycle.issue_code(session, vault, settings, holder)
    second = lifecycle.issue_code(session, vault, settings, holder, replace=False)
    check = lifecycle.check_code(session, vault, settings, holder.nir, second, client="192.0.2.9")
    lifecycle.oppose(session, settings, check, actor=SYSTEM)
    again = lifecycle.check_code(session, vault, settings, holder.nir, first, client="192.0.2.9")
    assert again.error is not None and again.error.code == "code-replaced"
    assert session.get(Holder, holder.id).state == "opposed"  # type: ignore[union-attr]
