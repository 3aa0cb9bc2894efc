"""The space's access history and reports of suspicious accesses (rules ACC-8, DOC-4, REP-2,
REP-4).

The entries come from the audit log (`audit.service.entries_for_space`); this module decides
nothing: the decision point says who reads the history and which documents the reader may not see.

Carnet decisions made here (the rules are silent):

- Reading the access history is audited only when someone other than the holder reads it (a
  representative or a caregiver, `access-history.read`); the holder's own looks would only grow
  the log they are reading.
- One page view, one history line: the entries one request recorded for the same actor (the
  agenda page reads the appointments, the vaccinations for the prevention calendar and the
  calendar itself: three audited reads, each decided) are shown together, with every action they
  name (`HistoryEntry.actions`). The audit log keeps each read; only the history groups them.
- A reader reports only accesses by someone else: their own actions are not theirs to report.
- Entries about a document the reader may not see are left out of the history: documents
  invisible to representatives (REP-2) for representatives, documents awaiting their announcement
  consultation (DOC-4) for the whole holder side. When there are such documents, the counts that
  search entries carry are not shown either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet import clock
from carnet.access.care_team import CLINICIAN_KINDS
from carnet.access.lookups import profession_label
from carnet.access.models import AccessReport
from carnet.access.rules import (
    Actor,
    Relation,
    SpaceFacts,
    decide_document_read,
    decide_history_read,
    mode_of,
)
from carnet.access.service import actor_for, space_facts
from carnet.accounts import rules as account_rules
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.apps import service as apps
from carnet.audit.models import AuditEntry
from carnet.audit.rules import Mode
from carnet.audit.service import (
    SpaceEntryFilter,
    entries_for_space,
    entry_in_space,
    record,
    space_entries_after,
)
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.documents import service as documents
from carnet.documents.service import facts
from carnet.errors import Forbidden, InvalidInput, NotFound
from carnet.vault.service import Vault

HISTORY_PAGE_SIZE = 100  # ACC-8
HISTORY_CHUNK = 1000  # entries read at a time by `every_entry`
MAX_NOTE = 2000
HOLDER_KINDS = (
    PrincipalKind.HOLDER.value,
    PrincipalKind.REPRESENTATIVE.value,
    PrincipalKind.CAREGIVER.value,
)
HISTORY_MODES = (
    Mode.NORMAL,
    Mode.EMERGENCY,
    Mode.REGULATION,
    Mode.REPRESENTATIVE,
    Mode.CAREGIVER,
    Mode.APP,
    Mode.OPERATOR,
)
# Audit targets that name a document (DOC-4, REP-2: hidden from those who may not see it).
DOCUMENT_TARGETS = ("DocumentReference", "Binary")
# Entries whose target is a count of documents found ("2/5"): blanked when some are hidden.
COUNTING_ACTIONS = frozenset({"document.search"})
# Why a holder-side reader may not see a document, so that its history entries are left out too.
_HIDING_REASONS = frozenset({"awaiting-announcement", "invisible-to-representatives"})


@dataclass(frozen=True)
class HistoryQuery:
    actor: str | None = None  # an RPPS number, or "holder"
    mode: str | None = None
    date_from: dt.date | None = None  # Europe/Paris days, inclusive
    date_to: dt.date | None = None
    page: int = 1


@dataclass(frozen=True)
class HistoryEntry:
    id: uuid.UUID
    at: dt.datetime
    action: str
    mode: str
    actor_kind: str
    actor_display: str
    actor_rpps: str | None
    target_type: str | None
    target_id: str | None
    reason: str | None
    reported: bool
    actor_name: str = ""  # a professional's, relative's or app's name alone
    profession_code: str | None = None  # a professional's, for the reader's language
    own: bool = False  # the reader's own action (not theirs to report)
    request_id: str | None = None
    actions: tuple[str, ...] = ()  # every action of the page view, `action` first


@dataclass(frozen=True)
class HistoryPage:
    total: int
    page: int
    per_page: int
    entries: list[HistoryEntry]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _hidden_targets(session: Session, actor: Actor, space: SpaceFacts) -> list[str]:
    """Ids of documents the holder-side reader may not see (DOC-4, REP-2), per the decision point:
    their history entries are left out, so a secret document never reaches a representative."""
    candidates = documents.kept_from_holder_side(session, space.holder_id)
    now = clock.now()
    hidden: list[str] = []
    for doc in candidates:
        decision = decide_document_read(actor, space, facts(doc), now)
        if not decision and decision.reason in _HIDING_REASONS:
            hidden.append(str(doc.id))
    return hidden


def _history_filter(session: Session, settings: Settings, query: HistoryQuery) -> SpaceEntryFilter:
    """The query's filters as the audit log takes them (an unknown RPPS number: no entry)."""
    actor_kinds: tuple[str, ...] | None = None
    actor_ids: list[str] | None = None
    if query.actor:
        if query.actor == "holder":
            actor_kinds = HOLDER_KINDS
        else:
            problem = account_rules.rpps_problem(query.actor)
            if problem is not None:
                raise InvalidInput(f"actor: {problem}, or 'holder'.", field="actor")
            pro = account_service.professional_by_rpps(session, query.actor)
            actor_kinds = CLINICIAN_KINDS
            actor_ids = [] if pro is None else [str(pro.id)]
    if query.mode and query.mode not in {m.value for m in HISTORY_MODES}:
        raise InvalidInput(f"Unknown mode {query.mode!r}.", field="mode")
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise InvalidInput("from must not be after to.", field="from")
    since = before = None
    if query.date_from:
        since = clock.start_of_day(query.date_from, settings.timezone)
    if query.date_to:
        before = clock.start_of_day(query.date_to + dt.timedelta(days=1), settings.timezone)
    return SpaceEntryFilter(
        actor_kinds=actor_kinds,
        actor_ids=actor_ids,
        mode=query.mode or None,
        since=since,
        before=before,
        hidden_types=DOCUMENT_TARGETS,
    )


@dataclass(frozen=True)
class _Who:
    display: str  # in French, as the export's CSV writes it
    rpps: str | None = None
    name: str = ""  # a professional's, relative's or app's name alone and a professional's
    profession_code: str | None = None  # profession: pages say the rest in their language


def _displays(
    session: Session, principal: Principal, rows: Sequence[AuditEntry]
) -> dict[tuple[str, str], _Who]:
    """(actor_kind, actor_id) → who, in two queries for a page."""
    pro_ids: set[uuid.UUID] = set()
    holder_ids: set[uuid.UUID] = set()
    for row in rows:
        try:
            ident = uuid.UUID(row.actor_id)
        except ValueError:
            continue
        if row.actor_kind in CLINICIAN_KINDS:
            pro_ids.add(ident)
        elif row.actor_kind in HOLDER_KINDS:
            holder_ids.add(ident)
    pros = account_service.professionals_by_ids(session, pro_ids)
    people = account_service.holders_by_ids(session, holder_ids)
    out: dict[tuple[str, str], _Who] = {}
    for row in rows:
        key = (row.actor_kind, row.actor_id)
        if key in out:
            continue
        if row.actor_kind in CLINICIAN_KINDS:
            pro = pros.get(uuid.UUID(row.actor_id))
            if pro is None:
                out[key] = _Who("Professionnel de santé")
            else:
                label = profession_label(pro.profession_code)
                out[key] = _Who(f"{pro.name} ({label})", pro.rpps, pro.name, pro.profession_code)
        elif row.actor_kind in HOLDER_KINDS:
            if row.actor_id == str(principal.id):
                out[key] = _Who("vous")
            else:
                person = people.get(uuid.UUID(row.actor_id))
                first = person.first_names if person else ""
                out[key] = _Who(first or "Un proche", name=first)
        elif row.actor_kind == PrincipalKind.OPERATOR.value:
            out[key] = _Who("Opérateur Carnet")
        elif row.actor_kind == PrincipalKind.APP.value:
            # SRV-3: the holder sees which app it was.
            app = apps.app_by_id(session, uuid.UUID(row.actor_id))
            if app is None:
                out[key] = _Who("Application connectée")
            else:
                out[key] = _Who(f"Application {app.name}", name=app.name)
        else:
            out[key] = _Who("Carnet")
    return out


def history(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    query: HistoryQuery,
    *,
    request_id: str | None = None,
) -> HistoryPage:
    """ACC-8: the space's audit entries, newest first, 100 a page, filtered; codes only (the
    sealed `detail` is never opened). Read by someone other than the holder, the read is audited."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_history_read(actor, space)
    if not decision:
        raise Forbidden("You may not read this space's access history.", code=decision.reason)
    if query.page < 1:
        raise InvalidInput("page starts at 1.", field="page")
    wanted = _history_filter(session, settings, query)
    hidden = _hidden_targets(session, actor, space)
    total, rows = entries_for_space(
        session,
        holder.id,
        dataclasses.replace(wanted, hidden_ids=hidden),
        page=query.page,
        per_page=HISTORY_PAGE_SIZE,
    )
    entries = grouped(_entries(session, principal, holder, rows, hidden))
    _record_read(session, principal, actor, holder, f"page={query.page}", request_id)
    return HistoryPage(total=total, page=query.page, per_page=HISTORY_PAGE_SIZE, entries=entries)


def every_entry(
    session: Session,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    *,
    request_id: str | None = None,
) -> Iterator[HistoryEntry]:
    """ACC-8: the whole history, newest first, unfiltered, as the pages of `history` show it
    (the same hidden documents, the same blanked counts), for the export (SRV-5): decided, and
    audited when someone other than the holder reads it, once for the whole read, before any
    entry; then the entries by chunks, each after the last entry seen. Paging through `history`
    decided, counted, audited and skipped again at every page of 100 (issue 14)."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_history_read(actor, space)
    if not decision:
        raise Forbidden("You may not read this space's access history.", code=decision.reason)
    hidden = _hidden_targets(session, actor, space)
    wanted = dataclasses.replace(
        _history_filter(session, settings, HistoryQuery()), hidden_ids=hidden
    )
    _record_read(session, principal, actor, holder, "page=all", request_id)
    return _every_entry(session, principal, holder, wanted, hidden)


def _record_read(
    session: Session, principal: Principal, actor: Actor, holder: Holder, reason: str,
    request_id: str | None,
) -> None:  # fmt: skip
    """ACC-8: a read of the history by someone other than the holder is itself recorded."""
    if actor.relation is not Relation.SELF:
        record(session, principal, "access-history.read", holder_id=holder.id,
               target_type="Space", target_id=str(holder.id), mode=mode_of(actor),
               reason=reason, request_id=request_id)  # fmt: skip


def _every_entry(
    session: Session,
    principal: Principal,
    holder: Holder,
    wanted: SpaceEntryFilter,
    hidden: list[str],
) -> Iterator[HistoryEntry]:
    after: AuditEntry | None = None
    while True:
        rows = space_entries_after(session, holder.id, wanted, after, limit=HISTORY_CHUNK)
        if not rows:
            return
        yield from _entries(session, principal, holder, rows, hidden)
        after = rows[-1]


def _entries(
    session: Session,
    principal: Principal,
    holder: Holder,
    rows: Sequence[AuditEntry],
    hidden: list[str],
) -> list[HistoryEntry]:
    """Entries as the reader sees them: who in words, whether reported, counts blanked when
    some documents are hidden from the reader."""
    reported = (
        set(
            session.scalars(
                select(AccessReport.audit_entry_id).where(
                    AccessReport.holder_id == holder.id,
                    AccessReport.audit_entry_id.in_([r.id for r in rows]),
                )
            )
        )
        if rows
        else set()
    )
    shown = _displays(session, principal, rows)
    return [
        HistoryEntry(
            id=row.id,
            at=row.at,
            action=row.action,
            mode=row.mode,
            actor_kind=row.actor_kind,
            actor_display=shown[(row.actor_kind, row.actor_id)].display,
            actor_rpps=shown[(row.actor_kind, row.actor_id)].rpps,
            target_type=row.target_type,
            # Search entries carry "found/total" counts, which would count hidden documents.
            target_id=None if hidden and row.action in COUNTING_ACTIONS else row.target_id,
            reason=row.reason,
            reported=row.id in reported,
            actor_name=shown[(row.actor_kind, row.actor_id)].name,
            profession_code=shown[(row.actor_kind, row.actor_id)].profession_code,
            own=row.actor_id == str(principal.id) and row.actor_kind == principal.kind.value,
            request_id=row.request_id,
            actions=(row.action,),
        )
        for row in rows
    ]


def grouped(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """One line a page view: consecutive entries of one request by the same actor, in the same
    mode, become the first of them (newest first), naming every action once, reported when any
    of them is. Entries without a request id stay alone."""
    out: list[HistoryEntry] = []
    for entry in entries:
        last = out[-1] if out else None
        if (
            last is not None
            and entry.request_id is not None
            and (entry.request_id, entry.actor_kind, entry.actor_display, entry.mode)
            == (last.request_id, last.actor_kind, last.actor_display, last.mode)
        ):
            out[-1] = dataclasses.replace(
                last,
                actions=tuple(dict.fromkeys((*last.actions, entry.action))),
                reported=last.reported or entry.reported,
            )
        else:
            out.append(entry)
    return out


def report(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    holder: Holder,
    entry_id: uuid.UUID,
    note: str | None,
    *,
    request_id: str | None = None,
) -> AccessReport:
    """ACC-8: report a suspicious access. The entry must be one the reader sees in this space's
    history (anything else is 404); the note is sealed under the holder's key."""
    actor = actor_for(session, settings, principal, holder)
    space = space_facts(session, holder)
    decision = decide_history_read(actor, space)
    if not decision:
        raise Forbidden("You may not report accesses of this space.", code=decision.reason)
    entry = entry_in_space(session, holder.id, entry_id)
    if entry is None:
        raise NotFound("No such access in this space's history.")
    hidden = _hidden_targets(session, actor, space)
    if entry.target_type in DOCUMENT_TARGETS and entry.target_id in hidden:
        raise NotFound("No such access in this space's history.")
    if entry.actor_id == str(principal.id) and entry.actor_kind == principal.kind.value:
        raise InvalidInput("One reports accesses by others, not one's own.", field="entry_id")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"A note has at most {MAX_NOTE} characters.", field="note")
    row = AccessReport(
        id=uuid.uuid4(), holder_id=holder.id, audit_entry_id=entry.id, created_at=clock.now()
    )
    row.note_sealed = (
        vault.seal_text(session, holder.id, row.id, "access-report-note", note) if note else None
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "access.report",
        holder_id=holder.id,
        target_type="AuditEntry",
        target_id=str(entry.id),
        mode=mode_of(actor),
        reason=entry.action[:64],
        request_id=request_id,
    )
    return row
