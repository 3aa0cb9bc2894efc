"""`carnet professional …`, `carnet operator …` and `carnet account …`: who works with Carnet,
and the holders' spaces.

The lifecycle, the purge and the notifications are imported by the commands that change a space:
`carnet account show` reads one and stays quick to start.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from carnet import cli_support as support
from carnet import clock
from carnet.accounts import rules, service
from carnet.accounts.models import Holder, Representation
from carnet.audit.rules import Mode
from carnet.audit.service import record
from carnet.auth.principal import SYSTEM, Principal
from carnet.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from carnet.accounts.schemas import ProfessionalIn

professional_app = typer.Typer(help="Health professionals (RPPS).", no_args_is_help=True)
operator_app = typer.Typer(help="Operators of the platform.", no_args_is_help=True)


@professional_app.command("add")
def professional_add(
    rpps: Annotated[str, typer.Option(help="RPPS number (11 digits, Luhn check).")],
    profession: Annotated[str, typer.Option(help="TRE_G15 profession code, e.g. 10 (physician).")],
    name: Annotated[str, typer.Option(help="Display name.")],
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    specialty: Annotated[str | None, typer.Option(help="Specialty, free text.")] = None,
    regulator: Annotated[bool, typer.Option(help="Emergency-call regulating physician.")] = False,
    practice: Annotated[
        str | None,
        typer.Option(help="occupational or fire-brigade (ACC-3: express authorisation)."),
    ] = None,
) -> None:
    """Register a professional, or update one with the same RPPS."""
    data = service.parse_professional(
        {
            "rpps": rpps,
            "profession": profession,
            "name": name,
            "email": email or "",
            "specialty": specialty or "",
            "regulator": "1" if regulator else "",
            "practice": practice or "",
        }
    )
    with support.database().transaction() as session:
        row, created = service.upsert_professional(session, data, SYSTEM)
        verb = "Registered" if created else "Updated"
        support.console.print(f"{verb} professional {row.rpps} (profession {row.profession_code}).")


@professional_app.command("import")
def professional_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: rpps,profession,name,email,specialty,regulator")
    ],
) -> None:
    """Register professionals in bulk; invalid rows are reported and skipped."""
    report = service.ImportReport()
    database = support.database()
    batch: list[ProfessionalIn] = []

    def flush() -> None:
        with database.transaction() as session:
            for data in batch:
                _row, created = service.upsert_professional(session, data, SYSTEM)
                if created:
                    report.created += 1
                else:
                    report.updated += 1
        batch.clear()

    with Progress(
        SpinnerColumn(), TextColumn("{task.completed} rows"), console=support.err_console
    ) as bar:
        task = bar.add_task("import")
        for line, row in service.read_professionals_csv(file):
            try:
                batch.append(service.parse_professional(row))
            except InvalidInput as exc:
                report.rejected.append((line, exc.message))
            if len(batch) >= 1000:
                flush()
            bar.advance(task)
        if batch:
            flush()
    for line, reason in report.rejected:
        support.err_console.print(f"line {line}: {reason}")
    support.console.print(
        f"Professionals: {report.created} created, {report.updated} updated, "
        f"{len(report.rejected)} rejected."
    )


@operator_app.command("add")
def operator_add(name: Annotated[str, typer.Argument(help="Operator name.")]) -> None:
    """Register an operator (who can then get a token)."""
    with support.database().transaction() as session:
        service.add_operator(session, name, SYSTEM)
    support.console.print(f"Registered operator {name}.")


def register(app: typer.Typer) -> None:
    app.add_typer(professional_app, name="professional")
    app.add_typer(operator_app, name="operator")
    app.add_typer(account_app, name="account")


account_app = typer.Typer(help="Holders' spaces (operators).", no_args_is_help=True)


def _load(session: Session, nir: str) -> Holder:
    problem = rules.nir_problem(nir)
    if problem:
        raise InvalidInput(f"Invalid NIR: {problem}.")
    holder = service.find_holder(session, nir)
    if holder is None:
        from carnet.accounts import purge as purge_service

        if purge_service.is_tombstoned(session, support.vault(), nir):
            raise NotFound("This space was purged (only a tombstone remains).")
        raise NotFound("No space for this NIR.")
    return holder


def _operator(session: Session, name: str | None) -> Principal:
    if name is None:
        return SYSTEM
    from carnet.auth.service import find_principal

    return find_principal(session, operator_name=name)


@account_app.command("show")
def account_show(nir: Annotated[str, typer.Argument(help="The holder's NIR.")]) -> None:
    """Identity, state, dates and representatives of a space."""
    with support.database().transaction() as session:
        try:
            holder = _load(session, nir)
        except NotFound as exc:
            if "purged" in exc.message:
                support.console.print("state: purged (tombstone only)")
                return
            raise
        rows: list[tuple[str, str]] = [
            ("NIR", holder.nir),
            ("name", f"{holder.first_names} {holder.birth_name}"),
            ("birth date", holder.birth_date.isoformat()),
            ("sex", holder.sex),
            ("qualified INS", "yes" if holder.ins_qualified else "no"),
            ("state", holder.state),
            ("notified on", _day(holder.notified_on)),
            ("opposition deadline", _day(holder.opposition_deadline)),
            ("activated at", holder.activated_at.isoformat() if holder.activated_at else "-"),
            ("suspended on", _day(holder.suspended_on)),
            ("closed on", _day(holder.closed_on)),
            ("close reason", holder.close_reason or "-"),
            ("purge due on", _day(holder.purge_due_on)),
            ("deceased on", _day(holder.deceased_on)),
            ("e-mail", holder.email or "-"),
        ]
        reps = session.scalars(
            select(Representation)
            .where(Representation.minor_id == holder.id)
            .order_by(Representation.created_at)
        ).all()
        settings = support.settings()
        day = clock.today(settings.timezone)
        rows.extend(_representative_row(rep, holder, day, settings.majority_age) for rep in reps)
        # The person each represented space belongs to, as the holder's own lines name them.
        managed = session.execute(
            select(Representation, Holder)
            .join(Holder, Holder.id == Representation.minor_id)
            .where(Representation.representative_id == holder.id)
        ).all()
        for rep, person in managed:
            label = "represented formerly" if rep.status == "ended" else "represents"
            rows.append(
                (
                    label,
                    f"{person.first_names} {person.birth_name}, {person.nir} "
                    f"({rep.role}) [{rep.status}]",
                )
            )
        record(
            session,
            SYSTEM,
            "account.show",
            holder_id=holder.id,
            target_type="Space",
            target_id=str(holder.id),
            mode=Mode.OPERATOR,
        )
    table = Table(show_header=False)
    for key, value in rows:
        table.add_row(key, Text(value))  # plain text: "[active]" is a state, not Rich markup
    support.console.print(table)


def _representative_row(
    rep: Representation, holder: Holder, day: dt.date, majority_age: int
) -> tuple[str, str]:
    """REP-3: only a live link (accepted, or an invitation pending) is a representative; an ended
    one is shown as former, with the day it ended when known (a parent's: the majority day)."""
    from carnet.accounts.family.relations import ENDED, PARENT_ROLES

    if rep.status in ("accepted", "pending"):
        return f"representative ({rep.role})", f"{rep.representative_nir} ({rep.status})"
    if rep.status == ENDED:
        until = "ended"
        if rep.role in PARENT_ROLES and not rules.is_minor(holder.birth_date, day, majority_age):
            until = f"until {rules.majority_day(holder.birth_date, majority_age).isoformat()}"
        return f"former representative ({rep.role})", f"{rep.representative_nir} ({until})"
    return f"invitation ({rep.role})", f"{rep.representative_nir} ({rep.status})"


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else "-"


ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
OperatorOption = Annotated[str | None, typer.Option("--operator", help="Operator name.")]


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not (3 <= len(reason) <= 64):
        raise InvalidInput("--reason must have 3 to 64 characters (a short code, no health data).")
    return reason


@account_app.command("suspend")
def account_suspend(nir: str, reason: ReasonOption, operator: OperatorOption = None) -> None:
    """Suspend a space (LC-6): the holder is told how to object, within 6 weeks."""
    from carnet.accounts import objections

    settings = support.settings()
    with support.database().transaction() as session:
        holder = _load(session, nir)
        deadline = objections.suspend_and_tell(
            session,
            support.vault(),
            settings,
            holder,
            _operator(session, operator),
            _check_reason(reason),
        )
        close_day = rules.suspension_close_day(
            holder.suspended_on or deadline, settings.suspension_weeks
        )
    support.console.print(
        f"Space suspended; the holder may object until {deadline}; without objection it closes "
        f"on {close_day}."
    )


@account_app.command("reinstate")
def account_reinstate(nir: str, reason: ReasonOption, operator: OperatorOption = None) -> None:
    """The holder objected to a suspension in time (LC-6): the space is active again."""
    from carnet.accounts import lifecycle

    with support.database().transaction() as session:
        holder = _load(session, nir)
        lifecycle.transition(
            session,
            holder,
            "reinstate",
            _operator(session, operator),
            reason=_check_reason(reason),
            mode=Mode.OPERATOR,
        )
        holder.suspended_on = None
    support.console.print("Space reinstated.")


@account_app.command("close")
def account_close(
    nir: str,
    reason: ReasonOption,
    operator: OperatorOption = None,
    purge: Annotated[bool, typer.Option(help="Erase at the next jobs run (LC-5).")] = False,
) -> None:
    """Close a space (LC-5): archived 10 years, or purged at the next jobs run with --purge."""
    from carnet.accounts import lifecycle

    settings = support.settings()
    with support.database().transaction() as session:
        holder = _load(session, nir)
        lifecycle.close(
            session,
            settings,
            holder,
            _operator(session, operator),
            purge=purge,
            reason=_check_reason(reason),
        )
        support.console.print(f"Space closed; purge due on {holder.purge_due_on}.")


@account_app.command("mark-deceased")
def account_mark_deceased(
    nir: str,
    reason: ReasonOption,
    operator: OperatorOption = None,
    on: Annotated[str | None, typer.Option("--on", help="Date of death, YYYY-MM-DD.")] = None,
) -> None:
    """Record the holder's death and close the space (LC-6)."""
    from carnet.accounts import lifecycle

    settings = support.settings()
    try:
        day = dt.date.fromisoformat(on) if on else lifecycle.today(settings)
    except ValueError:
        raise InvalidInput("--on must be a date as YYYY-MM-DD.") from None
    with support.database().transaction() as session:
        holder = _load(session, nir)
        lifecycle.mark_deceased(session, settings, holder, _operator(session, operator), day)
        _check_reason(reason)
        support.console.print(f"Death recorded on {day}; space {holder.state}.")


@account_app.command("objections")
def account_objections(operator: OperatorOption = None) -> None:
    """Objections to a suspension awaiting a decision, oldest first (LC-6); reading is audited."""
    from carnet.accounts import objections

    with support.database().transaction() as session:
        queue = objections.pending(session, support.vault(), _operator(session, operator))
    if not queue:
        support.console.print("No objection awaits a decision.")
        return
    for item in queue:  # one line each, never wrapped: the id is copied into `decide`
        support.console.print(
            f"{item.id}  NIR={item.nir}  suspended={item.suspended_on}  "
            f"objected={item.objected_at:%Y-%m-%dT%H:%MZ}  deadline={item.deadline}  "
            f"reason={item.reason}  note={' '.join(item.note.split()) or '-'}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


@account_app.command("objection")
def account_objection(
    action: Annotated[str, typer.Argument(help="decide", metavar="decide")],
    objection_id: Annotated[str, typer.Argument(metavar="ID", help="From `account objections`.")],
    note: Annotated[str, typer.Option("--note", help="Why (kept sealed, not in the log).")],
    uphold: Annotated[bool, typer.Option("--uphold", help="The suspension stands.")] = False,
    lift: Annotated[bool, typer.Option("--lift", help="The space is active again.")] = False,
    operator: OperatorOption = None,
) -> None:
    """Decide an objection to a suspension (LC-6): --uphold or --lift; the holder is told."""
    import uuid

    from carnet.accounts import objections

    if action != "decide":
        raise InvalidInput("Write `carnet account objection decide ID --uphold|--lift --note …`.")
    if uphold == lift:
        raise InvalidInput("Give exactly one of --uphold and --lift.")
    try:
        wanted = uuid.UUID(objection_id)
    except ValueError:
        raise InvalidInput(
            "ID is the objection's id, as `carnet account objections` lists it."
        ) from None
    settings = support.settings()
    with support.database().transaction() as session:
        principal = _operator(session, operator)
        row = objections.decide(
            session,
            support.vault(),
            settings,
            wanted,
            "lift" if lift else "uphold",
            note=note,
            operator=principal,
            operator_name=operator or "system",
        )
    if row.decision == "lift":
        support.console.print("Objection accepted: the suspension is lifted; the holder is told.")
    else:
        support.console.print("Suspension upheld; the holder is told.")
