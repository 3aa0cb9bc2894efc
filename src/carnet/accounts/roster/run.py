"""One batch of a roster run, written in bulk (rules LC-1, LC-6, LC-7, LC-8, REP-1, ACC-8).

Every table is written with one statement per batch (`carnet.bulk`), the first audit entry of each
new space with `audit.bulk.append_bulk`; look-ups are one query per batch. Ids are time-ordered
(`roster.ids`). See
`accounts.roster.provision` for the whole run.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from carnet import clock
from carnet.accounts import lifecycle, notices, rules
from carnet.accounts import purge as purge_service
from carnet.accounts.models import Holder, PostalLetter, ProvisionalCode, Representation
from carnet.accounts.roster.ids import ordered_ids
from carnet.accounts.roster.notices import (
    NOTICE_KIND,
    NOTICE_SUBJECT,
    NoticeTemplate,
    new_codes,
)
from carnet.accounts.roster.report import ProvisionReport
from carnet.accounts.roster.rows import CONTACT_FIELDS, REP_FIELDS, TRAIT_FIELDS, RosterRow
from carnet.audit.bulk import append_bulk
from carnet.audit.rules import Mode
from carnet.audit.service import PendingEntry, append_batch
from carnet.auth.principal import SYSTEM
from carnet.bulk import BulkTable
from carnet.config import Settings
from carnet.db import Database
from carnet.feeds import Reject, RejectsWriter
from carnet.notifications.models import PENDING, OutboxMessage
from carnet.vault.service import Vault

ACTION_PROVISION = "account.provision"
ACTION_CONTACT_UPDATE = "account.contact-update"
ACTION_ROSTER_UPDATE = "account.roster-update"
SQLITE_CACHE_KB = 64 * 1024  # page cache of the provisioning connection on SQLite
_IN_CHUNK = 5000  # bound parameters per IN (...) query


@dataclass(frozen=True, slots=True)
class _Person:
    """Who a notice can be addressed to: a roster row of this batch or a holder in the database."""

    id: str  # canonical text, as `_new_ids` makes them
    first_names: str
    birth_name: str
    email: str | None
    postal_address: str | None
    deceased: bool


class _Batch:
    """What `Run.apply` learns about one batch, step by step: who is new, who changed, who
    represents whom, and which rows wait or are rejected."""

    def __init__(
        self,
        rows: list[RosterRow],
        new_rows: list[RosterRow],
        changed: list[tuple[RosterRow, str]],
        existing: dict[str, tuple[str, str | None]],
    ) -> None:
        self.rows = rows
        self.new_rows = new_rows
        self.existing = existing
        self.new_ids = dict(zip((r.nir for r in new_rows), ordered_ids(len(new_rows)), strict=True))
        self.with_reps = [r for r in (*new_rows, *(c[0] for c in changed)) if r.representative_nir]
        self.people: dict[str, _Person] = {}
        self.pending = set(self.new_ids)  # new people that this batch creates
        self.waiting: set[str] = set()  # rows whose representatives are not known (yet)
        self.rejected_rows: set[str] = set()

    def missing(self, nir: str) -> bool:
        return nir not in self.people or (nir in self.new_ids and nir not in self.pending)


class Run:
    """One provisioning run: keys, constants and the per-table writers, and the batch logic."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        settings: Settings,
        notice_day: dt.date,
        today: dt.date,
        report: ProvisionReport,
        rejects: RejectsWriter,
    ) -> None:
        self.database = database
        self.vault = vault
        self.settings = settings
        self.notice_day = notice_day
        self.today = today
        self.report = report
        self.rejects = rejects
        self.deadline = rules.opposition_deadline(notice_day, settings.opposition_weeks)
        with database.transaction() as session:
            self.code_key = vault.system_key(session, lifecycle.CODE_KEY)
            self.tomb_key = vault.system_key(session, purge_service.TOMBSTONE_KEY)
            vault.system_key(session, notices.LETTER_KEY)  # created now, outside the batches
        dialect = database.engine.dialect
        self.holders = BulkTable(
            Holder.__table__,  # type: ignore[arg-type]
            dialect,
            varying=(
                "id", "nir", "birth_name", "first_names", "birth_date", "sex", "birth_place_insee",
                "email", "phone", "postal_address", "deceased_on", "state", "notified_on",
                "opposition_deadline", "closed_on", "close_reason", "purge_due_on", "roster_digest",
            ),
            fixed=(
                "ins_qualified", "state_changed_at", "created_at", "activated_at", "suspended_on",
                "dmp_migration_opposed", "username", "password_hash", "code_failures",
                "code_locked_until",
            ),
        )  # fmt: skip
        self.codes = BulkTable(
            ProvisionalCode.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "holder_id", "code_hash"),
            fixed=("purpose", "issued_at", "expires_at", "used_at", "revoked_at"),
        )
        self.representations = BulkTable(
            Representation.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "minor_id", "representative_id", "representative_nir", "role"),
            fixed=("status", "created_at", "expires_at", "responded_at"),
        )
        self.outbox = BulkTable(
            OutboxMessage.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "recipient", "body_text", "holder_id"),
            fixed=(
                "created_at", "kind", "subject", "status", "attempts", "next_attempt_at",
                "sent_at", "last_error",
            ),
        )  # fmt: skip
        self.letters = BulkTable(
            PostalLetter.__table__,  # type: ignore[arg-type]
            dialect,
            varying=("id", "holder_id", "sealed"),
            fixed=(
                "kind", "created_at", "rendered_at", "batch_file", "printed_at",
                "undeliverable_at", "handled_at",
            ),
        )  # fmt: skip
        self._notice = NoticeTemplate(settings.base_url, self.deadline)
        self.postgres = dialect.name == "postgresql"

    # -- hashes ---------------------------------------------------------------------------------

    def tombstone_hash(self, nir: str) -> str:
        """Same value as `purge_service.tombstone_hash` (HMAC-SHA256 under the tombstone key)."""
        return hmac.digest(self.tomb_key, f"ins|{nir}".encode(), "sha256").hex()

    def code_hash(self, nir: str, code: str) -> str:
        """Same value as `vault.keyed_hash(session, lifecycle.CODE_KEY, code_hash_input(...))`."""
        return hmac.digest(self.code_key, rules.code_hash_input(nir, code).encode(), "sha256").hex()

    # -- one batch --------------------------------------------------------------------------------

    def apply(self, session: Session, rows: list[RosterRow], *, final: bool) -> list[RosterRow]:
        """Write one batch of first-seen rows; returns the rows to retry at the end (minors whose
        representative is not known yet). With `final`, those become rejects instead."""
        connection = session.connection()
        if not self.postgres:
            # The random-key index pages (NIR, birth date) stay in memory between batches instead
            # of being read back from the OS for each insert (SQLite's default cache is 2 MB).
            connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
        existing = self._existing(connection, [r.nir for r in rows])
        new_rows: list[RosterRow] = []
        changed: list[tuple[RosterRow, str]] = []
        for row in rows:
            found = existing.get(row.nir)
            if found is None:
                new_rows.append(row)
            elif found[1] == row.digest:
                self.report.unchanged += 1
            else:
                changed.append((row, found[0]))
        new_rows = self._not_tombstoned(connection, new_rows)
        batch = _Batch(rows, new_rows, changed, existing)
        self._representatives(session, batch)
        retry = self._set_aside(batch, final=final)
        self._unreachable(batch)
        creating = [r for r in new_rows if r.nir in batch.pending]
        updating = [
            (r, i)
            for r, i in changed
            if r.nir not in batch.waiting and r.nir not in batch.rejected_rows
        ]
        self._create(session, connection, creating, batch.new_ids, batch.people)
        if updating:
            self._update(session, connection, updating, batch.people)
        return retry

    def _not_tombstoned(self, connection: Connection, new_rows: list[RosterRow]) -> list[RosterRow]:
        """LC-8: a purged person's tombstone keeps the roster from recreating the space."""
        if not new_rows:
            return new_rows
        # No tombstone at all (a first load): nothing to hash and look up, row by row.
        if connection.exec_driver_sql("SELECT 1 FROM tombstones LIMIT 1").first() is None:
            return new_rows
        hashes = [self.tombstone_hash(r.nir) for r in new_rows]
        dead = self._tombstoned(connection, hashes)
        if not dead:
            return new_rows
        kept = [r for r, h in zip(new_rows, hashes, strict=True) if h not in dead]
        self.report.skipped_erased += len(new_rows) - len(kept)
        return kept

    def _representatives(self, session: Session, batch: _Batch) -> None:
        """REP-1, LC-7: representatives must be known — in the database or in this batch; a
        deceased one rejects the row."""
        if not batch.with_reps:
            return
        wanted = {nir for row in batch.with_reps for nir in row.representatives}
        for row in batch.rows:
            if row.nir in wanted:
                holder_id = (
                    batch.new_ids.get(row.nir) or batch.existing.get(row.nir, (None, None))[0]
                )
                if holder_id is not None:
                    batch.people[row.nir] = _person(holder_id, row)
        batch.people.update(_people(session, wanted - batch.people.keys()))
        for row in batch.with_reps:
            for name, nir in zip(REP_FIELDS, row.representatives, strict=False):
                person = batch.people.get(nir)
                if person is not None and person.deceased:
                    self._reject(
                        Reject(row.line, name, "the representative is recorded as deceased")
                    )
                    batch.rejected_rows.add(row.nir)
                    batch.pending.discard(row.nir)
                    break

    def _set_aside(self, batch: _Batch, *, final: bool) -> list[RosterRow]:
        """Rows whose representative is not known yet wait for the end of the file (returned);
        at the end (`final`) they are rejects. A representative created in this batch must itself
        be created (not waiting, not rejected)."""
        moved = True
        while moved:
            moved = False
            for row in batch.with_reps:
                if row.nir in batch.rejected_rows or row.nir in batch.waiting:
                    continue
                if any(batch.missing(nir) for nir in row.representatives):
                    batch.waiting.add(row.nir)
                    batch.pending.discard(row.nir)
                    moved = True
        retry: list[RosterRow] = []
        for row in batch.with_reps:
            if row.nir not in batch.waiting:
                continue
            if not final:
                retry.append(row)
                continue
            name = next(
                (
                    f
                    for f, nir in zip(REP_FIELDS, row.representatives, strict=False)
                    if batch.missing(nir)
                ),
                "representative_nir",
            )
            self._reject(
                Reject(
                    row.line,
                    name,
                    "the representative is not in the roster (nor in this file, nor already known)",
                )
            )
        return retry

    def _unreachable(self, batch: _Batch) -> None:
        """LC-1, LC-7: a represented person's notice must reach them or their representative."""
        for row in batch.new_rows:
            if row.nir in batch.pending and row.deceased_on is None and row.representative_nir:
                _name, email, address = self._addressee(row, batch.people)
                if not email and not address:
                    self._reject(
                        Reject(
                            row.line,
                            "postal_address",
                            "no e-mail and no postal address, neither the person's nor the "
                            "representative's: the notice cannot be sent (LC-1, LC-7)",
                        )
                    )
                    batch.pending.discard(row.nir)

    # -- look-ups, one statement per batch --------------------------------------------------------

    def _existing(
        self, connection: Connection, nirs: list[str]
    ) -> dict[str, tuple[str, str | None]]:
        """Holders already known, by NIR: (id as canonical text, roster digest)."""
        return {
            nir: (holder_id, digest)
            for holder_id, nir, digest in self._select_in(
                connection, "holders", ("id", "nir", "roster_digest"), "nir", nirs
            )
        }

    def _tombstoned(self, connection: Connection, hashes: list[str]) -> set[str]:
        return {
            row[0]
            for row in self._select_in(connection, "tombstones", ("nir_hash",), "nir_hash", hashes)
        }

    def _select_in(
        self,
        connection: Connection,
        table: str,
        columns: tuple[str, ...],
        key: str,
        values: list[str],
    ) -> Iterator[tuple[Any, ...]]:
        """`SELECT columns FROM table WHERE key IN values` straight through the driver (rendering
        5,000 bound parameters through SQLAlchemy costs more than the query). An `id` column is
        returned as canonical UUID text on both engines."""
        raw = connection.connection.driver_connection
        assert raw is not None
        if self.postgres:
            names = ", ".join(f"{c}::text" if c == "id" else c for c in columns)
            with raw.cursor() as cursor:
                cursor.execute(
                    f"SELECT {names} FROM {table} WHERE {key} = ANY(%s)",  # noqa: S608
                    (values,),
                )
                yield from cursor.fetchall()
            return
        position = columns.index("id") if "id" in columns else -1
        cursor = raw.cursor()
        try:
            for start in range(0, len(values), _IN_CHUNK):
                part = values[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(part))
                cursor.execute(
                    f"SELECT {', '.join(columns)} FROM {table} WHERE {key} IN ({marks})",  # noqa: S608
                    part,
                )
                for row in cursor.fetchall():
                    if position >= 0:
                        h = row[position]
                        row = (
                            *row[:position],
                            f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",
                            *row[position + 1 :],
                        )
                    yield row
        finally:
            cursor.close()

    def _addressee(
        self, row: RosterRow, people: dict[str, _Person]
    ) -> tuple[str, str | None, str | None]:
        """Who receives the notice — (name, e-mail, postal address) — as `notices.send_notice`
        decides: a minor's goes to the managing representative (LC-7), at the child's address
        when the representative has none; anyone else's to themselves, or to their representative
        (a guardian, REP-5) when the roster gives them no contact at all."""
        own = (f"{row.first_names} {row.birth_name}", row.email, row.postal_address)
        if row.representative_nir is None:
            return own
        minor = rules.is_minor(row.birth_date, self.notice_day, self.settings.majority_age)
        if not minor and (row.email or row.postal_address):
            return own
        rep = people[row.representative_nir]
        return (
            f"{rep.first_names} {rep.birth_name}",
            rep.email,
            rep.postal_address or row.postal_address,
        )

    def _reject(self, problem: Reject) -> None:
        self.rejects.write([problem])
        self.report.rejected += 1

    # -- new people (LC-1, LC-6, LC-7, REP-1) -----------------------------------------------------

    def _create(
        self,
        session: Session,
        connection: Connection,
        rows: list[RosterRow],
        ids: dict[str, str],
        people: dict[str, _Person],
    ) -> None:
        if not rows:
            return
        now = clock.now()
        closed_purge = rules.archive_purge_day(self.today, self.settings.archive_years)
        holder_rows: list[list[Any]] = []
        code_rows: list[list[Any]] = []
        rep_rows: list[list[Any]] = []
        mail_rows: list[list[Any]] = []
        letter_rows: list[list[Any]] = []
        audit_rows: list[tuple[str, str]] = []
        live = sum(1 for r in rows if r.deceased_on is None)
        code_iter = iter(new_codes(live))
        id_iter = iter(ordered_ids(2 * live + sum(len(r.representatives) for r in rows)))
        for row in rows:
            holder_id = ids[row.nir]
            if row.deceased_on is None:
                state, notified, deadline = rules.NOTIFIED, self.notice_day, self.deadline
                closed_on: dt.date | None = None
                close_reason: str | None = None
                purge_due: dt.date | None = None
            else:
                # LC-6: a death known to the insurer closes the space; no code, no notice.
                state, notified, deadline = rules.CLOSED, None, None
                closed_on, close_reason, purge_due = self.today, "deceased", closed_purge
                self.report.closed_deceased += 1
            holder_rows.append(
                [
                    holder_id, row.nir, row.birth_name, row.first_names, row.birth_date, row.sex,
                    row.birth_place_insee, row.email, row.phone, row.postal_address,
                    row.deceased_on, state, notified, deadline, closed_on, close_reason, purge_due,
                    row.digest,
                ]
            )  # fmt: skip
            audit_rows.append((holder_id, state))
            for role, nir in zip(("managing", "second"), row.representatives, strict=False):
                rep_rows.append([next(id_iter), holder_id, people[nir].id, nir, role])
            if row.deceased_on is not None:
                continue
            code = next(code_iter)
            code_rows.append([next(id_iter), holder_id, self.code_hash(row.nir, code)])
            name, email, address = self._addressee(row, people)
            body = self._notice.render(row.first_names, row.birth_name, code)
            if email:
                mail_rows.append([next(id_iter), email, body, holder_id])
            else:
                letter_id = next(id_iter)
                content = {"name": name, "address": address or "", "body": body}
                sealed = self.vault.seal_system(
                    session,
                    notices.LETTER_KEY,
                    json.dumps(content, ensure_ascii=False).encode(),
                    notices.letter_aad(letter_id),
                )
                letter_rows.append([letter_id, holder_id, sealed])
        self.holders.write(
            connection,
            holder_rows,
            (True, now, now, None, None, False, None, None, 0, None),
        )
        self.codes.write(
            connection,
            code_rows,
            ("notice", now, now + dt.timedelta(days=self.settings.code_ttl_days), None, None),
        )
        self.representations.write(connection, rep_rows, ("accepted", now, None, now))
        self.outbox.write(
            connection,
            mail_rows,
            (now, NOTICE_KIND, NOTICE_SUBJECT, PENDING, 0, now, None, None),
        )
        self.letters.write(
            connection, letter_rows, (NOTICE_KIND, now, None, None, None, None, None)
        )
        # ACC-8: the first entry of each new space's chain, written in bulk, anchored at commit.
        append_bulk(
            session,
            audit_rows,
            action=ACTION_PROVISION,
            target_type="Space",
            at=now,
            entry_ids=ordered_ids(len(audit_rows)),
        )
        self.report.created += len(rows)
        self.report.emails += len(mail_rows)
        self.report.letters += len(letter_rows)

    def _update(
        self,
        session: Session,
        connection: Connection,
        rows: list[tuple[RosterRow, str]],
        people: dict[str, _Person],
    ) -> None:
        by_id = {uuid.UUID(holder_id): row for row, holder_id in rows}
        holders = session.scalars(select(Holder).where(Holder.id.in_(list(by_id)))).all()
        links: set[tuple[uuid.UUID, str]] = set()
        minors = [h.id for h in holders if by_id[h.id].representatives]
        if minors:
            links = {
                (m, n)
                for m, n in session.execute(
                    select(Representation.minor_id, Representation.representative_nir).where(
                        Representation.minor_id.in_(minors)
                    )
                )
            }
        entries: list[PendingEntry] = []
        new_links: list[list[Any]] = []
        now = clock.now()
        for holder in holders:
            row = by_id[holder.id]
            changed_contact = [n for n in CONTACT_FIELDS if getattr(holder, n) != getattr(row, n)]
            changed_traits = [n for n in TRAIT_FIELDS if getattr(holder, n) != getattr(row, n)]
            for name in (*changed_contact, *changed_traits):
                setattr(holder, name, getattr(row, name))
            changed_reps = []
            for role, nir in zip(("managing", "second"), row.representatives, strict=False):
                if (holder.id, nir) not in links:
                    new_links.append([str(uuid.uuid4()), str(holder.id), people[nir].id, nir, role])
                    changed_reps.append(
                        "representative_nir" if role == "managing" else "second_representative_nir"
                    )
            newly_deceased = row.deceased_on is not None and holder.deceased_on is None
            holder.roster_digest = row.digest
            if newly_deceased:
                assert row.deceased_on is not None
                # LC-6: on the holder's death the space is closed (audited by the transition).
                lifecycle.mark_deceased(session, self.settings, holder, SYSTEM, row.deceased_on)
            elif row.deceased_on != holder.deceased_on:
                holder.deceased_on = row.deceased_on
                changed_traits.append("deceased_on")
            names = changed_contact + changed_traits + changed_reps
            if not names and not newly_deceased:
                self.report.unchanged += 1  # same data, only the digest was missing or stale
                continue
            self.report.updated += 1
            if names:
                action = (
                    ACTION_CONTACT_UPDATE
                    if not (changed_traits or changed_reps)
                    else ACTION_ROSTER_UPDATE
                )
                entries.append(
                    PendingEntry(
                        actor_kind=SYSTEM.kind.value,
                        actor_id=str(SYSTEM.id),
                        action=action,
                        holder_id=holder.id,
                        target_type="Space",
                        target_id=str(holder.id),
                        mode=Mode.SYSTEM.value,
                        reason=",".join(names)[:64],
                    )
                )
        session.flush()
        self.representations.write(connection, new_links, ("accepted", now, None, now))
        append_batch(session, entries)


def _person(holder_id: str, row: RosterRow) -> _Person:
    return _Person(
        holder_id, row.first_names, row.birth_name, row.email, row.postal_address,
        row.deceased_on is not None,
    )  # fmt: skip


def _people(session: Session, nirs: set[str]) -> dict[str, _Person]:
    found: dict[str, _Person] = {}
    wanted = sorted(nirs)
    for start in range(0, len(wanted), _IN_CHUNK):
        part = wanted[start : start + _IN_CHUNK]
        for row in session.execute(
            select(
                Holder.id, Holder.nir, Holder.first_names, Holder.birth_name, Holder.email,
                Holder.postal_address, Holder.deceased_on, Holder.state,
            ).where(Holder.nir.in_(part))
        ):  # fmt: skip
            found[row.nir] = _Person(
                str(row.id), row.first_names, row.birth_name, row.email, row.postal_address,
                row.deceased_on is not None,
            )  # fmt: skip
    return found
