"""The whole access history in one decided read, for the export (rules ACC-8, REP-2, SRV-5):
`history.every_entry` gives what the pages of `history` give, newest first, read by chunks after the
last entry seen; one decision, one audit entry when someone other than the holder reads it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carnet.access import history as access_history
from carnet.accounts.models import Holder
from carnet.audit.models import AuditEntry
from carnet.audit.service import append
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.db import Database
from carnet.errors import Forbidden
from carnet.vault.service import Vault
from tests.access.test_care_api import new_pro
from tests.documents.samples import Family, deposit, family


def _space_with_history(
    database: Database, vault: Vault, settings: Settings
) -> tuple[Family, uuid.UUID, uuid.UUID]:
    """A minor's space whose history holds 25 reads, of a document the representative may see
    and of one they may not (REP-2), and a search that counts both."""
    people = family(database)
    physician = new_pro(database)
    author = Principal(PrincipalKind.PROFESSIONAL, physician.id)
    visible = deposit(database, vault, settings, people.child.id, author=author)
    secret = deposit(
        database, vault, settings, people.child.id, author=author,
        invisible_to_representatives=True,
    )  # fmt: skip
    with database.transaction() as session:
        for index in range(25):
            target = secret.id if index % 3 == 0 else visible.id
            append(
                session, actor_kind="professional", actor_id=str(physician.id),
                action="document.read-metadata", holder_id=people.child.id,
                target_type="DocumentReference", target_id=str(target),
            )  # fmt: skip
        append(
            session, actor_kind="professional", actor_id=str(physician.id),
            action="document.search", holder_id=people.child.id,
            target_type="DocumentReference", target_id="2/2",
        )  # fmt: skip
    return people, visible.id, secret.id


def _reads(session: Session, holder_id: uuid.UUID) -> list[str | None]:
    return list(
        session.scalars(
            select(AuditEntry.reason).where(
                AuditEntry.holder_id == holder_id, AuditEntry.action == "access-history.read"
            )
        )
    )


def _holder(session: Session, holder_id: uuid.UUID) -> Holder:
    found = session.get(Holder, holder_id)
    assert found is not None
    return found


def test_acc8_every_entry_is_the_history_across_chunks_newest_first(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    people, _visible, secret = _space_with_history(database, vault, settings)
    monkeypatch.setattr(access_history, "HISTORY_CHUNK", 4)  # many chunk boundaries
    monkeypatch.setattr(access_history, "HISTORY_PAGE_SIZE", 7)
    child = Principal(PrincipalKind.HOLDER, people.child.id)
    with database.transaction() as session:
        space = _holder(session, people.child.id)
        got = list(access_history.every_entry(session, settings, child, space))
        pages = []
        first = access_history.history(
            session, settings, child, space, access_history.HistoryQuery()
        )
        for page in range(1, first.pages + 1):
            pages += access_history.history(
                session, settings, child, space, access_history.HistoryQuery(page=page)
            ).entries
        total = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.holder_id == people.child.id)
        )
        assert _reads(session, people.child.id) == []  # the holder's own looks: not audited
    assert got == pages
    assert len(got) == total and len({e.id for e in got}) == len(got) > 26
    stamps = [e.at for e in got]
    assert stamps == sorted(stamps, reverse=True)
    assert str(secret) in {e.target_id for e in got}  # the minor sees everything
    assert "2/2" in {e.target_id for e in got}


def test_rep2_acc8_a_representative_reads_it_whole_once_audited_without_secrets(
    database: Database, vault: Vault, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    people, visible, secret = _space_with_history(database, vault, settings)
    monkeypatch.setattr(access_history, "HISTORY_CHUNK", 3)
    monkeypatch.setattr(access_history, "HISTORY_PAGE_SIZE", 1000)
    parent = Principal(PrincipalKind.HOLDER, people.parent.id)
    with database.transaction() as session:
        space = _holder(session, people.child.id)
        got = list(access_history.every_entry(session, settings, parent, space))
        assert _reads(session, people.child.id) == ["page=all"]  # one entry for the whole read
        # The same as one page of `history` read right after (its own look is recorded after it).
        page = access_history.history(
            session, settings, parent, space, access_history.HistoryQuery()
        )
        kept = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.holder_id == people.child.id,
                AuditEntry.action != "access-history.read",
                AuditEntry.target_id.is_distinct_from(str(secret)),
            )
        )
    assert got == page.entries
    assert got[0].action == "access-history.read"  # recorded before the entries are read
    targets = {e.target_id for e in got}
    assert str(visible) in targets and str(secret) not in targets  # REP-2
    searched = next(e for e in got if e.action == "document.search")
    assert searched.target_id is None  # "2/2" would count the secret document
    assert len(got) == (kept or 0) + 1  # every entry but the secret's, and its own read


def test_acc8_every_entry_refuses_before_reading_anything(
    database: Database, vault: Vault, settings: Settings
) -> None:
    people, _visible, _secret = _space_with_history(database, vault, settings)
    outsider = new_pro(database)
    with database.transaction() as session:
        space = _holder(session, people.child.id)
        with pytest.raises(Forbidden):  # at the call, not at the first entry
            access_history.every_entry(
                session, settings, Principal(PrincipalKind.PROFESSIONAL, outsider.id), space
            )
        assert _reads(session, people.child.id) == []
