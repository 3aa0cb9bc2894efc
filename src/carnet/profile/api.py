"""Holder and professional API of the profile sections (issue 7; rules ACC-7, ACC-8, REP-2).

`/api/v1/me/profile...` acts on the caller's own space, or on the space named by `X-Carnet-Space`
that they manage (representative, caregiver: `accounts.family.resolve_space`; anything else 404).
`/api/v1/pro/patients/{holder_id}/...` is the professional's view: only what ACC-7 allows.
Refused reads and writes are audited, and that audit entry is committed before the error leaves.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from carnet.access.routes import Acting, Caller, acting_on, calling
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.auth.principal import PrincipalKind
from carnet.errors import NotFound
from carnet.http import keeping_audit
from carnet.profile import growth_reference, rules, service
from carnet.profile import measurements as measures
from carnet.profile.schemas import (
    BmiOut,
    EntryOut,
    GrowthChartOut,
    GrowthOut,
    GrowthPointOut,
    ProfileOut,
    TargetIn,
    TargetOut,
    TargetViewOut,
    Vaccination,
    VersionOut,
)

router = APIRouter(prefix="/api/v1", tags=["profile"])

_SECTIONS_DOC = "Sections: " + ", ".join(rules.SECTIONS) + " (hyphens accepted)."


def _context(caller: Caller, holder: Holder) -> service.Context:
    """The profile services' context for `caller` on `holder`'s space."""
    return service.context(
        caller.session, caller.vault, caller.settings, caller.principal, holder, caller.request_id
    )


def _entry_out(entry: service.Entry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        section=entry.section,
        content=entry.content,
        effective_date=entry.effective_date,
        version=entry.version,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        updated_by=entry.updated_by,
    )


def _profile_out(holder: Holder, found: dict[str, list[service.Entry]]) -> ProfileOut:
    derived = measures.bmi(found.get(rules.MEASUREMENT, []))
    return ProfileOut(
        space_id=holder.id,
        sections={name: [_entry_out(e) for e in entries] for name, entries in found.items()},
        bmi=BmiOut(
            value=derived.value,
            weight_entry=derived.weight.id,
            height_entry=derived.height.id,
            date=derived.date,
        )
        if derived
        else None,
    )


# -- holder side -------------------------------------------------------------------------------


@router.get("/me/profile", response_model=ProfileOut, summary="The whole profile, every section")
def get_profile(
    acting: Acting = acting_on("profile.read"),
) -> ProfileOut:
    """Entries newest first; `bmi` is derived from the latest weight and height."""
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return _profile_out(ctx.holder, service.read_profile(ctx))


@router.get(
    "/me/profile/{section}",
    response_model=list[EntryOut],
    summary="The entries of one section",
    description=_SECTIONS_DOC,
)
def list_section(
    section: str,
    acting: Acting = acting_on("profile.read"),
) -> list[EntryOut]:
    name = service.section_name(section)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return [_entry_out(e) for e in service.list_section(ctx, name)]


@router.post(
    "/me/profile/{section}",
    status_code=201,
    response_model=EntryOut,
    summary="Add an entry to a section",
    description=_SECTIONS_DOC + " Impossible measurements and future dates are refused (400).",
)
def create_entry(
    section: str,
    body: Annotated[
        dict[str, Any], Body(examples=[{"kind": "weight", "value": 72.5, "date": "2026-01-02"}])
    ],
    acting: Acting = acting_on("profile.update"),
) -> EntryOut:
    name = service.section_name(section)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return _entry_out(service.create_entry(ctx, name, body))


@router.put(
    "/me/profile/{section}/{entry_id}",
    response_model=EntryOut,
    summary="Replace an entry (a new version; the previous one stays in its history)",
)
def update_entry(
    section: str,
    entry_id: uuid.UUID,
    body: Annotated[dict[str, Any], Body()],
    acting: Acting = acting_on("profile.update"),
) -> EntryOut:
    name = service.section_name(section)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return _entry_out(service.update_entry(ctx, name, entry_id, body))


@router.delete(
    "/me/profile/{section}/{entry_id}",
    status_code=204,
    summary="Delete an entry (its history is kept)",
)
def delete_entry(
    section: str,
    entry_id: uuid.UUID,
    acting: Acting = acting_on("profile.update"),
) -> Response:
    name = service.section_name(section)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        service.delete_entry(ctx, name, entry_id)
    return Response(status_code=204)


@router.get(
    "/me/profile/{section}/{entry_id}/history",
    response_model=list[VersionOut],
    summary="Every version of an entry, with who made each change",
)
def entry_history(
    section: str,
    entry_id: uuid.UUID,
    acting: Acting = acting_on("profile.read"),
) -> list[VersionOut]:
    name = service.section_name(section)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return [
            VersionOut(
                version=v.version,
                change=v.change,
                content=v.content,
                changed_at=v.changed_at,
                changed_by=v.changed_by,
                changed_as=v.changed_as,
            )
            for v in service.history(ctx, name, entry_id)
        ]


# -- measurement targets and growth curves ------------------------------------------------------


def _target_out(target: measures.Target) -> TargetOut:
    return TargetOut(
        kind=target.kind, unit=target.unit, low=target.low, high=target.high, note=target.note,
        updated_at=target.updated_at, updated_by=target.updated_by,
    )  # fmt: skip


@router.get(
    "/me/measurement-targets",
    response_model=list[TargetViewOut],
    summary="Measurement targets against the latest values",
)
def list_targets(
    acting: Acting = acting_on("profile.read"),
) -> list[TargetViewOut]:
    """Every kind with a target or a value (BMI derived): `status` says below, within or above."""
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return [
            TargetViewOut(
                kind=v.kind,
                unit=v.unit,
                target=_target_out(v.target) if v.target else None,
                latest_value=v.latest_value,
                latest_date=v.latest_date,
                status=v.status,
            )
            for v in measures.targets_against_latest(ctx)
        ]


@router.put(
    "/me/measurement-targets/{kind}",
    response_model=TargetOut,
    summary="Set the target of a measurement kind (weight, systolic, hba1c, steps, bmi…)",
    description="Bounds outside the kind's plausible range, or in the wrong order, are refused (400).",
)
def put_target(
    kind: str,
    body: TargetIn,
    acting: Acting = acting_on("profile.update"),
) -> TargetOut:
    name = measures.target_kind(kind)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        return _target_out(measures.set_target(ctx, name, body))


@router.delete(
    "/me/measurement-targets/{kind}", status_code=204, summary="Remove a measurement target"
)
def delete_target(
    kind: str,
    acting: Acting = acting_on("profile.update"),
) -> Response:
    name = measures.target_kind(kind)
    ctx = _context(acting, acting.holder)
    with keeping_audit():
        measures.delete_target(ctx, name)
    return Response(status_code=204)


@router.get(
    "/me/growth",
    response_model=GrowthOut,
    summary="A child's growth curves: their points against the reference percentiles",
)
def get_growth(
    acting: Acting = acting_on("profile.read"),
) -> GrowthOut:
    """For a minor's space only (404 otherwise). Without a configured reference
    (`CARNET_GROWTH_REFERENCE_FILE`, docs/growth-curves.md) the points come without percentiles."""
    ctx = _context(acting, acting.holder)
    if not measures.is_child(ctx):
        raise NotFound("Growth curves are drawn for children only.", code="not-a-child")
    reference = growth_reference.load(acting.settings.growth_reference_file)
    with keeping_audit():
        found = measures.growth_charts(ctx, reference)
    return GrowthOut(
        space_id=ctx.holder.id,
        sex=ctx.holder.sex,
        reference=reference.source if reference else None,
        licence=reference.licence if reference else None,
        charts=[
            GrowthChartOut(
                indicator=c.indicator,
                unit=rules.TARGET_KINDS[c.indicator].unit,
                start_day=c.start_day,
                end_day=c.end_day,
                percentiles=c.lines,
                points=[
                    GrowthPointOut(
                        date=p.date,
                        age_days=p.age_days,
                        value=p.value,
                        z=p.z,
                        percentile=p.percentile,
                    )
                    for p in c.points
                ],
            )
            for c in found.charts
        ],
    )


# -- professionals (ACC-7) ---------------------------------------------------------------------


def _patient(caller: Caller, holder_id: uuid.UUID) -> service.Context:
    holder = account_service.holder(caller.session, holder_id)
    if holder is None:
        raise NotFound("No such patient.")
    return _context(caller, holder)


@router.get(
    "/pro/patients/{holder_id}/profile",
    response_model=ProfileOut,
    summary="A patient's profile as a professional sees it (ACC-7)",
)
def pro_profile(
    holder_id: uuid.UUID,
    request: Request,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR),
) -> ProfileOut:
    """Only vaccinations and the health history (illnesses, treatments, hospital stays,
    allergies, family history); never measurements, lifestyle, disabilities or blood group.
    403 outside the care team (ACC-1), when blocked (ACC-3) or without an open grant (ACC-5)."""
    ctx = _patient(caller, holder_id)
    with keeping_audit():
        return _profile_out(ctx.holder, service.read_profile(ctx))


@router.post(
    "/pro/patients/{holder_id}/vaccinations",
    status_code=201,
    response_model=EntryOut,
    summary="Record a vaccination for a patient (ACC-7: professionals may add them)",
)
def pro_add_vaccination(
    holder_id: uuid.UUID,
    body: Vaccination,
    request: Request,
    caller: Caller = calling(PrincipalKind.PROFESSIONAL),
) -> EntryOut:
    ctx = _patient(caller, holder_id)
    with keeping_audit():
        return _entry_out(service.create_entry(ctx, rules.VACCINATION, body))
