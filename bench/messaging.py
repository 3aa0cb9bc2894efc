"""Messages sent per second with a 1 MB attachment (issue 8, SRV-1), through the service layer.

Each message is one committed transaction, as a request would run it: the decision point (care team,
ID-3), the quota queries, the attachment sniffed, encrypted and fsynced as a blob, the sealed body,
the audit entry and the e-mail notice in the outbox. SQLite, one writer, in process (no HTTP);
`CARNET_BENCH_MESSAGES` (default 200) sets how many.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from bench.common import percentiles, world
from carnet.access.models import CareRelationship
from carnet.accounts.models import Holder, Professional
from carnet.accounts.rules import make_nir, make_rpps
from carnet.auth.principal import Principal, PrincipalKind
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewAttachment, NewConversation, NewMessage


def messaging() -> None:
    count = int(os.environ.get("CARNET_BENCH_MESSAGES", "200"))
    attachment = (b"Compte rendu de consultation, ligne de texte.\n" * 23_000)[: 1024 * 1024]
    with world() as (settings, database, vault):
        settings = settings.model_copy(update={"mailbox_quota_bytes": 10 * 1024**3})
        with database.transaction() as session:
            holder = Holder(
                nir=make_nir(1, 1970, 1, "75", 1, 1), birth_name="BENCH", first_names="Bench",
                birth_date=dt.date(1970, 1, 1), sex="M", state="active", email="b@example.org",
            )  # fmt: skip
            pro = Professional(rpps=make_rpps(10_000_001), profession_code="10", name="Dr Bench")
            session.add_all([holder, pro])
            session.flush()
            session.add(
                CareRelationship(holder_id=holder.id, professional_id=pro.id, status="authorised")
            )
            holder_id, pro_id = holder.id, pro.id
        principal = Principal(PrincipalKind.PROFESSIONAL, pro_id)
        samples: list[float] = []
        started = time.perf_counter()
        for n in range(count):
            one = time.perf_counter()
            with database.transaction() as session:
                space = session.get(Holder, holder_id)
                assert space is not None
                conversations.start(
                    Context(session, vault, settings, principal),
                    space,
                    NewConversation(
                        subject=f"Résultats {n}",
                        message=NewMessage(
                            body="Bonjour, voici le compte rendu.",
                            attachments=[NewAttachment(attachment, "cr.txt", "text/plain")],
                        ),
                    ),
                )
            samples.append(time.perf_counter() - one)
        rate = count / (time.perf_counter() - started)
    p50, p99 = percentiles(samples)
    print(
        f"messages sent with a 1 MB attachment (service, SQLite): {rate:7.1f} messages/s "
        f"({rate:6.1f} MB/s)   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   ({count} messages)"
    )
