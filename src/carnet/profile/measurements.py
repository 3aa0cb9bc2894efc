"""What a holder's measurements give beyond the entries themselves (issue 7): the derived BMI,
one target per measured kind against its latest value, and a minor's growth curves.

Targets are sealed under the holder's key like the entries (purpose "profile"), private like the
measurements and checked by the same decision point (ACC-7), audited as `MeasurementTarget` (ACC-8).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from carnet import clock
from carnet.accounts import rules as account_rules
from carnet.db import new_id
from carnet.errors import InvalidInput, NotFound
from carnet.profile import growth, rules
from carnet.profile.models import MeasurementTarget
from carnet.profile.schemas import TargetIn
from carnet.profile.service import (
    PURPOSE,
    Context,
    Entry,
    audit,
    dump,
    list_section,
    may_read,
    may_write,
)

GOAL = "MeasurementTarget"  # audit target type of measurement targets


@dataclass(frozen=True)
class Bmi:
    """Derived from the latest weight and height, never stored."""

    value: float
    weight: Entry
    height: Entry
    date: dt.date


def bmi(measurements: Iterable[Entry]) -> Bmi | None:
    """BMI from the latest weight and the latest height (issue 7: derived, not stored)."""
    latest: dict[str, Entry] = {}
    for entry in measurements:
        kind = entry.content.get("kind")
        if kind not in ("weight", "height"):
            continue
        known = latest.get(kind)
        key = (entry.effective_date or dt.date.min, entry.created_at)
        if known is None or key > (known.effective_date or dt.date.min, known.created_at):
            latest[kind] = entry
    weight, height = latest.get("weight"), latest.get("height")
    if weight is None or height is None:
        return None
    value = rules.bmi(float(weight.content["value"]), float(height.content["value"]))
    when = max(weight.effective_date or dt.date.min, height.effective_date or dt.date.min)
    return Bmi(value, weight, height, when)


# -- measurement targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str
    unit: str
    low: float | None
    high: float | None
    note: str
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class TargetView:
    """A kind's target against its latest value (`status` None without a target or a value)."""

    kind: str
    unit: str
    target: Target | None
    latest_value: float | None
    latest_date: dt.date | None
    status: rules.TargetStatus | None


def _open_target(ctx: Context, row: MeasurementTarget) -> Target:
    content = json.loads(
        ctx.vault.unseal_text(ctx.session, row.holder_id, row.id, PURPOSE, row.sealed)
    )
    return Target(
        row.kind,
        rules.TARGET_KINDS[row.kind].unit,
        content.get("low"),
        content.get("high"),
        content.get("note", ""),
        row.updated_at,
        row.updated_by,
    )


def _target_row(ctx: Context, kind: str) -> MeasurementTarget | None:
    return ctx.session.scalars(
        select(MeasurementTarget).where(
            MeasurementTarget.holder_id == ctx.holder.id, MeasurementTarget.kind == kind
        )
    ).first()


def target_kind(text: str) -> str:
    """A kind as given in a URL (`heart-rate` or `heart_rate`), checked (404 if unknown)."""
    name = text.strip().lower().replace("-", "_")
    if name not in rules.TARGET_KINDS:
        raise NotFound(
            f"Unknown measurement kind {text!r}; expected one of: {', '.join(rules.TARGET_KINDS)}."
        )
    return name


def list_targets(ctx: Context) -> list[Target]:
    """The holder's targets, in the order of the kinds; part of the measurements (ACC-7)."""
    decision = may_read(ctx, rules.MEASUREMENT)
    rows = ctx.session.scalars(
        select(MeasurementTarget).where(MeasurementTarget.holder_id == ctx.holder.id)
    ).all()
    audit(ctx, "profile.read", decision, reason="targets", target_type=GOAL)
    order = list(rules.TARGET_KINDS)
    return sorted((_open_target(ctx, r) for r in rows), key=lambda t: order.index(t.kind))


def set_target(ctx: Context, kind: str, data: Mapping[str, Any] | BaseModel) -> Target:
    """Create or replace the target of `kind`; impossible bounds are refused (400, nothing kept)."""
    decision = may_write(ctx, rules.MEASUREMENT)
    raw = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    try:
        parsed = TargetIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "target"
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid value')}", field=where) from None
    measure = rules.TARGET_KINDS[kind]
    if parsed.unit not in (None, "") and parsed.unit != measure.unit:
        raise InvalidInput(
            f"The unit of {kind} is {measure.unit} (UCUM), not {parsed.unit!r}.", field="unit"
        )
    problem = rules.target_problem(kind, parsed.low, parsed.high)
    if problem:
        raise InvalidInput(problem, field="target")
    text = dump({"low": parsed.low, "high": parsed.high, "note": parsed.note})
    now = clock.now()
    row = _target_row(ctx, kind)
    if row is None:
        row = MeasurementTarget(
            id=new_id(),
            holder_id=ctx.holder.id,
            kind=kind,
            created_at=now,
            updated_at=now,
            updated_by=ctx.principal.ref,
        )
        row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
        ctx.session.add(row)  # sealed first: the row is never flushed without its content
    else:
        row.sealed = ctx.vault.seal_text(ctx.session, row.holder_id, row.id, PURPOSE, text)
    row.updated_at = now
    row.updated_by = ctx.principal.ref
    ctx.session.flush()
    audit(ctx, "profile.update", decision, target_id=row.id, reason=f"target:{kind}",
           target_type=GOAL)  # fmt: skip
    return _open_target(ctx, row)


def delete_target(ctx: Context, kind: str) -> None:
    decision = may_write(ctx, rules.MEASUREMENT)
    row = _target_row(ctx, kind)
    if row is None:
        raise NotFound("No target for this measurement.")
    ctx.session.delete(row)
    ctx.session.flush()
    audit(ctx, "profile.delete", decision, target_id=row.id, reason=f"target:{kind}",
           target_type=GOAL)  # fmt: skip


def latest_values(measurements: Sequence[Entry]) -> dict[str, tuple[float, dt.date | None]]:
    """The latest value of each measured kind, plus the derived BMI."""
    latest: dict[str, Entry] = {}
    for entry in measurements:
        kind = str(entry.content.get("kind"))
        known = latest.get(kind)
        key = (entry.effective_date or dt.date.min, entry.created_at)
        if known is None or key > (known.effective_date or dt.date.min, known.created_at):
            latest[kind] = entry
    found = {k: (float(e.content["value"]), e.effective_date) for k, e in latest.items()}
    derived = bmi(measurements)
    if derived is not None:
        found[rules.BMI.name] = (derived.value, derived.date)
    return found


def targets_against_latest(
    ctx: Context, measurements: list[Entry] | None = None
) -> list[TargetView]:
    """Every kind that has a target or a value, its target against its latest value. Reads the
    measurements through the decision point unless given (already read and audited)."""
    if measurements is None:
        measurements = list_section(ctx, rules.MEASUREMENT)
    targets = {t.kind: t for t in list_targets(ctx)}
    latest = latest_values(measurements)
    views = []
    for kind, measure in rules.TARGET_KINDS.items():
        target, value = targets.get(kind), latest.get(kind)
        if target is None and value is None:
            continue
        status = (
            rules.target_status(value[0], target.low, target.high)
            if target is not None and value is not None
            else None
        )
        views.append(
            TargetView(kind, measure.unit, target, value[0] if value else None,
                       value[1] if value else None, status)
        )  # fmt: skip
    return views


# -- growth curves -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    reference: growth.Reference | None
    charts: list[growth.Curves]


def is_child(ctx: Context) -> bool:
    """Growth curves are for minors (REP-3's majority age)."""
    today = clock.today(ctx.settings.timezone)
    return account_rules.is_minor(ctx.holder.birth_date, today, ctx.settings.majority_age)


def growth_charts(
    ctx: Context, reference: growth.Reference | None, measurements: list[Entry] | None = None
) -> Growth:
    """The child's weight, height, head circumference and BMI against the reference (each
    indicator the child has points for). Reads the measurements through
    the decision point unless given (already read and audited by the caller)."""
    if measurements is None:
        measurements = list_section(ctx, rules.MEASUREMENT)
    birth = ctx.holder.birth_date
    found = growth.child_points(
        birth,
        [
            (e.effective_date, str(e.content["kind"]), float(e.content["value"]))
            for e in measurements
            if e.effective_date is not None
        ],
    )
    today_age = growth.age_in_days(birth, clock.today(ctx.settings.timezone))
    sex = ctx.holder.sex.upper()
    charts = [
        growth.curves(reference, indicator, sex, found[indicator], today_age)
        for indicator in growth.INDICATORS
        if found[indicator]
    ]
    return Growth(reference, charts)
