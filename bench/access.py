"""The decision point's cost (issue 5): one decision in process, p50 and p99, and with the facts
resolved from the database (actor_for + space_facts), which is what a read pays."""

from __future__ import annotations

import time
import uuid

from bench.common import percentiles, world
from carnet import clock
from carnet.access import habilitations
from carnet.access.models import CareRelationship
from carnet.access.rules import (
    Actor,
    Care,
    DocumentFacts,
    Relation,
    SpaceFacts,
    decide_document_read,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import make_nir, make_rpps
from carnet.auth.principal import Principal, PrincipalKind


def access() -> None:
    """Decision cost in process, then with its facts read from SQLite."""
    actor = Actor(
        Principal(PrincipalKind.PROFESSIONAL, uuid.uuid4()),
        Relation.PROFESSIONAL,
        profession_code="10",
        care=Care.AUTHORISED,
        readable=habilitations.load()["10"],
    )
    space = SpaceFacts(uuid.uuid4(), "active")
    doc = DocumentFacts("professional", uuid.uuid4(), "psy", "current", True, False, None, False)
    now = clock.now()
    samples = []
    for _ in range(200_000):
        started = time.perf_counter()
        decide_document_read(actor, space, doc, now)
        samples.append(time.perf_counter() - started)
    p50, p99 = percentiles(samples)
    print(
        f"decide_document_read in process:          p50 {p50 * 1000:7.2f} µs  p99 {p99 * 1000:7.2f} µs"
    )
    with world() as (settings, database, _vault):
        with database.transaction() as session:
            holder = Holder(
                nir=make_nir(1, 1980, 1, "75", 1, 1),
                birth_name="B",
                first_names="B",
                birth_date=__import__("datetime").date(1980, 1, 1),
                sex="M",
                state="active",
            )
            pro = Professional(rpps=make_rpps(42), profession_code="10", name="Dr Bench")
            session.add_all([holder, pro])
            session.flush()
            session.add(
                CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
            )
            holder_id, pro_id = holder.id, pro.id
        principal = Principal(PrincipalKind.PROFESSIONAL, pro_id)
        samples = []
        with database.transaction() as session:
            holder = session.get(Holder, holder_id)
            assert holder is not None
            for _ in range(5_000):
                started = time.perf_counter()
                resolved = actor_for(session, settings, principal, holder)
                facts = space_facts(session, holder)
                decide_document_read(resolved, facts, doc, now)
                samples.append(time.perf_counter() - started)
        p50, p99 = percentiles(samples)
        print(f"facts from SQLite + decision:             p50 {p50:7.3f} ms  p99 {p99:7.3f} ms")
