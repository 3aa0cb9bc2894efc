"""The holder API (JSON under /api/v1): opposition, objection to a suspension, activation, login,
closing, renewal, profiles.

A thin edge over `accounts.lifecycle` and `auth.login`: every rule is applied there, so the portal,
calling the same services, behaves the same. Every route declares exactly one access rule.

Refused attempts that must leave a trace (wrong provisional codes, failed logins, the client and
global counters of `auth.throttle`, audit entries) are committed before the error is raised: the
request's transaction would otherwise roll them back and an attacker could guess forever.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from carnet.access.routes import Acting, Caller, acting_on, calling, public
from carnet.accounts import lifecycle, objections
from carnet.accounts import service as account_service
from carnet.accounts.family import relations as family
from carnet.accounts.models import Holder
from carnet.accounts.proof import download_proof
from carnet.accounts.schemas import (
    ActivationIn,
    ActivationOut,
    ChallengeOut,
    CloseIn,
    CloseOut,
    ErrorOut,
    MeOut,
    NotificationPreferencesIn,
    NotificationPreferencesOut,
    OppositionIn,
    OppositionOut,
    PasswordIn,
    PasswordOut,
    ProfileOut,
    ProfilesOut,
    RecoveryIn,
    RenewalIn,
    RenewalOut,
    ResetIn,
    SessionIn,
    SessionOut,
    SessionsOut,
    SuspensionObjectionIn,
    SuspensionObjectionOut,
    TokenOut,
    VerifyIn,
)
from carnet.audit.service import record
from carnet.auth import login, password, recovery, sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.auth.service import bearer_token, live_token_count
from carnet.errors import NotFound, kept
from carnet.http import app_settings as _settings
from carnet.http import app_vault as _vault
from carnet.http import client_address, db_session, get_database, request_id

router = APIRouter(prefix="/api/v1", tags=["holder"])
CLOSE = "close"  # the resolve_space action: REP-4 keeps it from caregivers
# The space's e-mail choices are read and changed as its document preferences are (REP-4:
# a caregiver may, as they may switch new-document e-mails).
NOTICES_READ, NOTICES_CHANGE = "documents.read", "documents.change"


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut} for status in statuses}


# -- opposition (LC-2) ------------------------------------------------------------------------


@router.post(
    "/opposition",
    status_code=201,
    response_model=OppositionOut,
    dependencies=[public()],  # rule LC-2: opposing never requires logging in
    responses=_errors(400, 401, 409, 429),
    summary="Oppose the creation of one's space (INS + provisional code, no login)",
)
def oppose(
    body: OppositionIn, request: Request, session: Session = Depends(db_session, scope="function")
) -> OppositionOut:
    """rule LC-2: until the deadline, with the NIR and the provisional code. 401 wrong code or
    unknown NIR (the same answer in every state of the space), 409 code used/replaced/expired,
    deadline passed or space not in the `notified` state, 429 too many wrong codes from this
    client or from everyone (Retry-After, seconds)."""
    settings = _settings(request)
    check = lifecycle.check_code(
        session, _vault(request), settings, body.nir, body.code, client=client_address(request)
    )
    if check.error is not None:
        raise kept(check.error)  # the failure's bookkeeping (counters, locks, audit) stays
    assert check.holder is not None
    proof = lifecycle.oppose(
        session,
        settings,
        check,
        dmp_only=body.scope == "dmp-migration",
        actor=Principal(PrincipalKind.HOLDER, check.holder.id),
    )
    path = request.app.url_path_for("opposition_proof", proof_id=str(proof.id))
    return OppositionOut(proof_url=f"{settings.base_url}{path}", opposed_at=proof.opposed_at)


@router.get(
    "/opposition/{proof_id}/proof.pdf",
    name="opposition_proof",
    dependencies=[public()],  # rule LC-2: the random proof id is the capability
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_errors(404)},
    summary="The PDF proof of an opposition",
)
def opposition_proof(
    proof_id: str, request: Request, session: Session = Depends(db_session, scope="function")
) -> Response:
    """rule LC-2: date and time of the opposition (Europe/Paris), name, masked NIR."""
    pdf, name = download_proof(
        session, _settings(request), proof_id, request_id=request_id(request)
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- objecting to a suspension (LC-6) ---------------------------------------------------------


@router.post(
    "/suspension/objection",
    status_code=201,
    response_model=SuspensionObjectionOut,
    dependencies=[public()],  # rule LC-6: a suspended space lets nobody sign in
    responses=_errors(400, 401, 409, 429),
    summary="Object to the suspension of one's space (INS + the notice's code, no login)",
)
def object_to_suspension(
    body: SuspensionObjectionIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> SuspensionObjectionOut:
    """rule LC-6: within 6 weeks of the suspension, with the NIR and the code of the suspension
    notice. 401 wrong code or unknown NIR, 409 code used/replaced/expired, space not suspended,
    the 6 weeks over (`objection-deadline-passed`) or an objection already recorded, 429 too many
    wrong codes (Retry-After, seconds). An operator decides (`carnet account objection decide`)."""
    settings = _settings(request)
    vault = _vault(request)
    check = lifecycle.check_code(
        session, vault, settings, body.nir, body.code, client=client_address(request)
    )
    if check.error is not None:
        raise kept(check.error)
    row = objections.object_to_suspension(
        session, vault, settings, check, reason=body.reason, note=body.note
    )
    return SuspensionObjectionOut(
        objection_id=row.id, objected_at=row.created_at, deadline=row.deadline
    )


# -- activation (LC-4) ------------------------------------------------------------------------


@router.post(
    "/activation",
    status_code=201,
    response_model=ActivationOut,
    dependencies=[public()],
    responses=_errors(400, 401, 403, 409, 429),
    summary="Activate one's space and choose credentials",
)
def activate(
    body: ActivationIn, request: Request, session: Session = Depends(db_session, scope="function")
) -> ActivationOut:
    """rule LC-4: NIR + provisional code + birth date. 400 weak password (field `password`) or
    birth date mismatch, 401 wrong code or unknown NIR (one answer), 403 minor, 409 code
    used/replaced/expired, username taken, space opposed, closed or awaiting erasure (LC-5),
    429 too many wrong codes from this client or from everyone (Retry-After)."""
    settings = _settings(request)
    check = lifecycle.check_code(
        session, _vault(request), settings, body.nir, body.code, client=client_address(request)
    )
    if check.error is not None:
        raise kept(check.error)  # the failure's bookkeeping (counters, locks, audit) stays
    holder = lifecycle.activate(
        session,
        settings,
        check,
        birth_date=body.birth_date,
        username=body.username,
        password=body.password,
        email=body.email,
    )
    return ActivationOut(state=holder.state, username=holder.username or "")


# -- login, logout ----------------------------------------------------------------------------


@router.post(
    "/session",
    response_model=ChallengeOut,
    dependencies=[public()],
    responses=_errors(400, 401, 403, 409, 429),
    summary="Log in, step 1: username and password; a one-time code is e-mailed",
)
def start_session(
    body: SessionIn, request: Request, session: Session = Depends(db_session, scope="function")
) -> ChallengeOut:
    """401 wrong username or password (same answer either way), 403 space not active,
    429 too many failures of this username from this client, of this client, or of everyone
    (Retry-After); a stranger elsewhere cannot lock the owner out."""
    outcome = login.start_login(
        session,
        _vault(request),
        _settings(request),
        PrincipalKind.HOLDER,
        body.username,
        body.password,
        client=client_address(request),
        request_id=request_id(request),
    )
    if outcome.error is not None:
        raise kept(outcome.error)  # the failure's bookkeeping (counters, locks, audit) stays
    assert outcome.value is not None
    return ChallengeOut(challenge=outcome.value.challenge, expires_in=outcome.value.expires_in)


@router.post(
    "/session/verify",
    response_model=TokenOut,
    dependencies=[public()],
    responses=_errors(400, 401, 403, 409, 429),
    summary="Log in, step 2: the e-mailed code gives a bearer token",
)
def verify_session(
    body: VerifyIn, request: Request, session: Session = Depends(db_session, scope="function")
) -> TokenOut:
    """401 wrong code (5 tries per challenge), expired or dead challenge; 409 code already used;
    429 too many failures for this username. ACC-8: the login is recorded."""
    outcome = login.verify_login(
        session,
        _vault(request),
        _settings(request),
        body.challenge,
        body.code,
        client=client_address(request),
        request_id=request_id(request),
    )
    if outcome.error is not None:
        raise kept(outcome.error)  # the failure's bookkeeping (counters, locks, audit) stays
    assert outcome.value is not None
    return TokenOut(access_token=outcome.value.access_token, expires_in=outcome.value.expires_in)


@router.delete(
    "/session",
    status_code=204,
    response_class=Response,
    responses=_errors(401, 403),
    summary="Log out everywhere: every token, portal session and pending login code ends",
)
def end_sessions(
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> Response:
    login.logout_everywhere(
        caller.session,
        caller.principal,
        holder_id=caller.principal.id,
        request_id=caller.request_id,
    )
    return Response(status_code=204)


@router.post(
    "/me/password",
    response_model=PasswordOut,
    responses=_errors(400, 401, 403, 429),
    summary="Change one's password: every other session, token and app connection ends",
)
def change_password(
    body: PasswordIn,
    request: Request,
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> PasswordOut:
    """LC-4 policy, argon2id. 403 `bad-password` when the current password is wrong (counted
    with failed logins: 429 after too many), 400 when the new one breaks the policy. The token of
    this request keeps working; every other one, every portal session, pending login code and
    app the holder connected ends (`auth.service.end_access`, ACC-8)."""
    outcome = password.change_password(
        caller.session,
        caller.vault,
        caller.settings,
        caller.principal,
        body.current_password,
        body.new_password,
        client=client_address(request),
        keep_token=bearer_token(request),
        request_id=caller.request_id,
    )
    if outcome.error is not None:
        raise kept(outcome.error)  # the failure's bookkeeping (counters, locks, audit) stays
    assert outcome.value is not None
    return PasswordOut(
        tokens_ended=outcome.value.tokens,
        sessions_ended=outcome.value.portal_sessions,
        apps_ended=outcome.value.app_consents,
    )


@router.post(
    "/password/recovery",
    status_code=202,
    response_model=RenewalOut,
    dependencies=[public()],
    responses=_errors(400, 429),
    summary="Forgotten password: send a recovery code to the account, if it exists",
)
def password_recovery(
    body: RecoveryIn,
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session, scope="function"),
) -> RenewalOut:
    """The same answer, as quick, whether or not the username is someone's (`auth.recovery`): the
    code (e-mail, else letter) is made after the answer has left. 429 when this client, or
    everyone, asked too often (Retry-After)."""
    vault, settings = _vault(request), _settings(request)
    wait = recovery.ask_recovery(session, vault, settings, client=client_address(request))
    if wait is not None:
        raise kept(wait)  # the failure's bookkeeping (counters) stays
    background.add_task(
        recovery.recover_apart, get_database(request), vault, settings, body.username
    )
    return RenewalOut()


@router.post(
    "/password/reset",
    response_model=PasswordOut,
    dependencies=[public()],
    responses=_errors(400, 401, 429),
    summary="Set a new password with the recovery code: every session, token and app ends",
)
def password_reset(
    body: ResetIn,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
) -> PasswordOut:
    """401 `bad-recovery-code` for a wrong, used or expired code or an unknown username (counted
    with failed logins: 429 after too many), 400 when the new password breaks the policy."""
    outcome = recovery.reset_password(
        session, _vault(request), _settings(request), body.username, body.code,
        body.new_password, client=client_address(request), request_id=request_id(request),
    )  # fmt: skip
    if outcome.error is not None:
        raise kept(outcome.error)  # the failure's bookkeeping (counters, locks, audit) stays
    assert outcome.value is not None
    return PasswordOut(
        tokens_ended=outcome.value.tokens,
        sessions_ended=outcome.value.portal_sessions,
        apps_ended=outcome.value.app_consents,
    )


@router.get(
    "/me/sessions",
    response_model=SessionsOut,
    responses=_errors(401, 403),
    summary="The holder's open portal sessions and devices, and their API tokens in use",
)
def list_sessions(caller: Caller = calling(PrincipalKind.HOLDER)) -> SessionsOut:
    rows = sessions.live_rows(caller.session, caller.principal)
    return SessionsOut(
        sessions=[
            SessionOut(
                id=row.id,
                device=row.device,
                created_at=row.created_at,
                last_used_at=row.last_seen_at,
            )
            for row in rows
        ],
        api_tokens=live_token_count(caller.session, caller.principal),
    )


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    responses=_errors(401, 403, 404),
    summary="End one of the holder's portal sessions",
)
def end_session(session_id: uuid.UUID, caller: Caller = calling(PrincipalKind.HOLDER)) -> Response:
    """404 when no open session of the holder has this id (another person's included)."""
    if not sessions.revoke_own(caller.session, caller.principal, session_id):
        raise NotFound("No open session of yours has this id.")
    record(
        caller.session,
        caller.principal,
        "auth.logout",
        holder_id=caller.principal.id,
        target_type="PortalSession",
        target_id=str(session_id),
        reason="api-device",
        request_id=caller.request_id,
    )
    return Response(status_code=204)


def _notices_out(pref: Any) -> NotificationPreferencesOut:
    return NotificationPreferencesOut(
        messages=pref.messages, appointments=pref.appointments, accesses=pref.accesses
    )


@router.get(
    "/me/notification-preferences",
    response_model=NotificationPreferencesOut,
    responses=_errors(401, 403, 404),
    summary="The e-mails the space's people get beyond new documents",
)
def get_notification_preferences(
    acting: Acting = acting_on(NOTICES_READ),
) -> NotificationPreferencesOut:
    """Of the space acted on (`X-Carnet-Space`); new documents are `/me/document-preferences`."""
    return _notices_out(account_service.notification_preferences(acting.session, acting.holder.id))


@router.put(
    "/me/notification-preferences",
    response_model=NotificationPreferencesOut,
    responses=_errors(400, 401, 403, 404),
    summary="Switch e-mails of new messages, appointment reminders or first accesses on or off",
)
def put_notification_preferences(
    body: NotificationPreferencesIn,
    acting: Acting = acting_on(NOTICES_CHANGE),
) -> NotificationPreferencesOut:
    """Security notices (login codes, password changes, emergency accesses) have no switch."""
    choices = {k: v for k, v in body.model_dump().items() if v is not None}
    pref = account_service.set_notification_preferences(
        acting.session, acting.holder, acting.principal, choices
    )
    return _notices_out(pref)


# -- the holder's own space -------------------------------------------------------------------


@router.get(
    "/me",
    response_model=MeOut,
    responses=_errors(401, 403, 404),
    summary="The holder's identity, state and dates",
)
def me(
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> MeOut:
    holder = lifecycle.get_holder(caller.session, caller.principal.id)
    return MeOut(
        holder_id=holder.id,
        nir=holder.nir,
        birth_name=holder.birth_name,
        first_names=holder.first_names,
        birth_date=holder.birth_date,
        sex=holder.sex,
        birth_place_insee=holder.birth_place_insee,
        ins_qualified=holder.ins_qualified,
        email=holder.email,
        username=holder.username,
        state=holder.state,
        notified_on=holder.notified_on,
        opposition_deadline=holder.opposition_deadline,
        activated_at=holder.activated_at,
        closed_on=holder.closed_on,
        purge_due_on=holder.purge_due_on,
        dmp_migration_opposed=holder.dmp_migration_opposed,
    )


@router.post(
    "/me/close",
    response_model=CloseOut,
    responses=_errors(400, 401, 403, 404, 409),
    summary="Close one's space, or the space of a child or protected adult one represents",
)
def close_space(
    body: CloseIn,
    acting: Acting = acting_on(CLOSE),
) -> CloseOut:
    """rule LC-5: closed at once; archive kept 10 years, or erased at the next daily jobs run when
    `purge` is true. The holder closes their own space; with
    `X-Carnet-Space`, a minor's legal representative (REP-1) or a protected adult's guardian
    (REP-5) closes that space; a caregiver gets 403 (REP-4), anyone else 404. The holder is told
    (LC-7: a minor's notice goes to the representative). Every token, session and app connection
    of the closed space ends (`lifecycle.close` → `auth.service.end_access`)."""
    lifecycle.close_space(
        acting.session,
        acting.vault,
        acting.settings,
        acting.holder,
        acting.principal,
        relation=acting.relation,
        purge=body.purge,
    )
    return CloseOut(state=acting.holder.state, purge_due_on=acting.holder.purge_due_on)


@router.post(
    "/renewal",
    status_code=202,
    response_model=RenewalOut,
    dependencies=[public()],
    responses=_errors(400, 429),
    summary="Ask for a new provisional code",
)
def renewal(
    body: RenewalIn,
    request: Request,
    background: BackgroundTasks,
    session: Session = Depends(db_session, scope="function"),
) -> RenewalOut:
    """Expired code, or a closed or opposed person asking for a space (LC-2, LC-5). The answer is
    the same, and as quick, whether or not the NIR is known: the renewal itself runs after the
    answer has left, and the code goes only to the addresses on record. 429 when this client, or
    everyone, asked too often (Retry-After)."""
    vault, settings = _vault(request), _settings(request)
    wait = lifecycle.ask_renewal(session, vault, settings, client=client_address(request))
    if wait is not None:
        raise kept(wait)  # the failure's bookkeeping (counters, locks, audit) stays
    background.add_task(lifecycle.renew_apart, get_database(request), vault, settings, body.nir)
    return RenewalOut()


@router.get(
    "/me/profiles",
    response_model=ProfilesOut,
    responses=_errors(401, 403, 404),
    summary="The holder's own space and the spaces they manage",
)
def profiles(
    caller: Caller = calling(PrincipalKind.HOLDER),
) -> ProfilesOut:
    """Own space, then the spaces they manage (`accounts.family.managed_spaces`): minors of whom
    they are an accepted representative (REP-1, REP-3), protected adults under their guardianship
    (REP-5), and people they help as an accepted caregiver (REP-4)."""
    holder = lifecycle.get_holder(caller.session, caller.principal.id)
    found = [_profile(holder, "self")]
    managed = family.managed_spaces(caller.session, holder.id, settings=caller.settings)
    found += [_profile(other, relation) for other, relation in managed]
    return ProfilesOut(profiles=found)


def _profile(holder: Holder, relation: family.Relation) -> ProfileOut:
    return ProfileOut(
        holder_id=holder.id,
        first_names=holder.first_names,
        birth_name=holder.birth_name,
        relation=relation,
        state=holder.state,
    )
