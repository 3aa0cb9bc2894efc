"""Reading a space's entries for its access history (rule ACC-8): the audit log answers the
filters the history asks for, and leaves out the entries naming a document the reader may not see
(DOC-4, REP-2)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from carnet.audit.service import SpaceEntryFilter, entries_for_space, entry_in_space
from tests.audit.support import add


def test_an_actor_nobody_is_finds_no_entry(session: Session) -> None:
    """ACC-8: a filter on an RPPS number nobody has shows nothing, not everything."""
    space = uuid.uuid4()
    add(session, space)
    add(session, space)
    total, rows = entries_for_space(
        session, space, SpaceEntryFilter(actor_ids=[]), page=1, per_page=10
    )
    assert (total, rows) == (0, [])


def test_entries_naming_a_hidden_document_are_left_out(session: Session) -> None:
    """DOC-4, REP-2: entries about a document the reader may not see are not in their history;
    entries about other documents and other targets are."""
    space = uuid.uuid4()
    add(session, space, target_type="DocumentReference", target_id="secret")
    kept = add(session, space, target_type="DocumentReference", target_id="other")
    other_kind = add(session, space, target_type="Space", target_id="secret")
    wanted = SpaceEntryFilter(hidden_types=("DocumentReference", "Binary"), hidden_ids=["secret"])
    total, rows = entries_for_space(session, space, wanted, page=1, per_page=10)
    assert total == 2
    assert {row.id for row in rows} == {kept.id, other_kind.id}


def test_pages_are_newest_first_and_counted_whole(session: Session) -> None:
    """ACC-8: a page holds `per_page` entries, newest first; the total counts them all."""
    space = uuid.uuid4()
    entries = [add(session, space) for _ in range(5)]
    add(session, uuid.uuid4())  # another space's entry
    total, rows = entries_for_space(session, space, SpaceEntryFilter(), page=2, per_page=2)
    assert total == 5
    assert [row.seq for row in rows] == [entries[2].seq, entries[1].seq]


def test_an_entry_of_another_space_is_not_found(session: Session) -> None:
    """ACC-8: a report names an entry of its own space only."""
    space, other = uuid.uuid4(), uuid.uuid4()
    mine = add(session, space)
    theirs = add(session, other)
    assert entry_in_space(session, space, mine.id) is mine
    assert entry_in_space(session, space, theirs.id) is None
