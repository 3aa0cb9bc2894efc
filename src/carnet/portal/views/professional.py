"""The professional side: log in (RPPS + password + e-mailed code), find a patient by NIR, declare
care (ACC-1), read what the decision point allows (the patient page's summary, relation and
documents timeline are built by `pro_summary`), deposit a document (ACC-2, DOC-1), open an
emergency or regulation access (ACC-5), write to the patient (SRV-1; the conversations themselves
are in `pro_messages`).

Every page calls the services (`auth.login`, `access.care_team`, `documents.service`,
`fhir.service.read_patient` for the identity); the portal decides nothing. The NIR travels only in
a POST body: the patient found is kept in the portal session (`acting_space_id`), never in a URL.
Regulators (SAMU – centre 15) log in on the same page, ticking "regulating physician".
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import PurePath

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from carnet.access import care_team, lookups
from carnet.access import emergency as access_emergency
from carnet.access.routes import portal_session
from carnet.access.rules import Relation
from carnet.access.service import current_grant
from carnet.accounts import service as account_service
from carnet.accounts.models import Holder
from carnet.auth import sessions as sessions
from carnet.auth.principal import Principal, PrincipalKind
from carnet.documents import deposits, reference
from carnet.documents import service as documents
from carnet.documents.present import INLINE_TYPES
from carnet.errors import CarnetError, NotFound
from carnet.fhir import service as fhir
from carnet.messaging import conversations
from carnet.messaging.context import Context, NewConversation, NewMessage
from carnet.portal import messages
from carnet.portal.forms import form_data
from carnet.portal.i18n import N_, Formatter
from carnet.portal.routing import large_body, wants_json
from carnet.portal.views import pro_summary
from carnet.portal.views.common import (
    Visit,
    new_router,
    rid,
    text,
    visiting,
)
from carnet.portal.views.documents import (
    content_response,
    describe,
    embedded_response,
    read_content,
    structured_view,
)
from carnet.portal.views.login import Identified, LoginKind, login_routes
from carnet.portal.web import (
    FormErrors,
    PortalRedirect,
    Shell,
    formatter,
    redirect,
    render,
    settings_of,
    vault_of,
)

router = new_router()
pro_session = portal_session(PrincipalKind.PROFESSIONAL, PrincipalKind.REGULATOR)

LOGIN_PATH = "/pro/login"
LOGIN_COOKIE = "carnet_pro_login"
HOME = "/pro"
PATIENT = "/pro/patient"
# Professionals deposit PDF (or CDA, through the API) with a LOINC type (DOC-1).
ACCEPT = ".pdf,application/pdf"

REASONS = {
    "expired": N_("Your session has ended (15 minutes without activity). Log in again."),
    "logged-out": N_("You are logged out. Close the browser if you use a shared computer."),
    "restart": N_("Your login attempt has ended: enter your RPPS number and password again."),
}
DECLARED = {
    "declared": "care-declared",
    "already-declared": "care-already-declared",
    "already-authorised": "care-already-declared",
    "blocked": "care-declared",  # ACC-3: a block is never told (as the API's "recorded")
}
MODES = {"emergency": N_("Emergency"), "regulation": N_("Regulation")}


def pro_shell() -> Shell:
    return Shell(signed_in=True, professional=True)


# -- logging in (`views.login`; regulators tick "regulating physician") ---------------------------


def _identify(fmt: Formatter, form: FormData, errors: FormErrors) -> Identified:
    rpps, password = text(form, "rpps", 20).strip(), text(form, "password", 1024)
    regulator = text(form, "regulator", 5) == "1"
    if not rpps:
        errors.add("rpps", fmt.gettext(N_("Enter your RPPS number (11 digits).")))
    kind = PrincipalKind.REGULATOR if regulator else PrincipalKind.PROFESSIONAL
    return Identified(kind, rpps, password, {"rpps": rpps, "regulator": regulator})


def _is_pro(live: sessions.LiveSession | None) -> bool:
    return live is not None and live.principal.kind in (
        PrincipalKind.PROFESSIONAL,
        PrincipalKind.REGULATOR,
    )


PRO_LOGIN = LoginKind(
    name="portal_pro",
    path=LOGIN_PATH,
    logout_path="/pro/logout",
    cookie=LOGIN_COOKIE,
    home=HOME,
    next_cookie=None,
    rule=pro_session,
    reasons=REASONS,
    cleared=frozenset({"expired", "logged-out"}),
    page="pro_login.html",
    title=N_("Professional login"),
    shell=Shell,
    blank={"rpps": "", "regulator": False},
    identify=_identify,
    signed_in=_is_pro,
    restarts=lambda code: code == "not-a-regulator",
)
login_routes(router, PRO_LOGIN)


# -- finding a patient ---------------------------------------------------------------------------


def _current_patient(db: Session, live: sessions.LiveSession) -> Holder | None:
    """The patient kept in the session (`acting_space_id`; the principal's own id: none)."""
    if live.acting_space_id == live.principal.id:
        return None
    return account_service.holder(db, live.acting_space_id)


def _home_page(
    request: Request,
    db: Session,
    errors: FormErrors,
    *,
    nir: str = "",
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    live: sessions.LiveSession = request.state.portal_session
    pro = account_service.professional(db, live.principal.id)
    return render(
        request,
        "pro_home.html",
        {
            "nir": nir,
            "pro_name": pro.name if pro is not None else "",
            "regulator": live.principal.kind is PrincipalKind.REGULATOR,
            "has_patient": _current_patient(db, live) is not None,
        },
        title=fmt.gettext(N_("Find a patient")),
        errors=errors,
        status=status,
        shell=pro_shell(),
    )


@router.get(HOME, name="portal_pro_home")
def home(request: Request, visit: Visit = visiting(pro_session)) -> Response:
    return _home_page(request, visit.db, FormErrors())


@router.post(f"{HOME}/find", name="portal_pro_find")
def find(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(pro_session),
) -> Response:
    """The NIR comes in the form body; the patient found is kept in the session (ID-1)."""
    fmt = formatter(request)
    nir = text(form, "nir", 40)
    errors = FormErrors()
    if not nir.strip():
        errors.add("nir", fmt.gettext(N_("Enter the patient's social security number (NIR).")))
        return _home_page(request, visit.db, errors, status=400)
    try:
        holder = lookups.holder_by_nir(visit.db, nir)
        # The identity is shown only when the service allows it (and the reading is audited).
        fhir.read_patient(
            visit.db, settings_of(request), visit.principal, str(holder.id), request_id=rid(request)
        )
    except CarnetError as exc:
        message = (
            fmt.gettext(N_("No patient has this number in Carnet."))
            if isinstance(exc, NotFound)
            else messages.describe(exc, fmt)
        )
        errors.add("nir", message)
        return _home_page(request, visit.db, errors, nir=nir, status=exc.status_code)
    sessions.set_acting_space(visit.db, visit.live, holder.id)
    return redirect(PATIENT)


# -- the patient's page --------------------------------------------------------------------------


def _relation(principal: Principal) -> Relation:
    return (
        Relation.REGULATOR if principal.kind is PrincipalKind.REGULATOR else Relation.PROFESSIONAL
    )


def _require_patient(db: Session, request: Request) -> Holder:
    patient = _current_patient(db, request.state.portal_session)
    if patient is None:
        raise PortalRedirect(HOME)
    return patient


def _type_choices(fmt: Formatter) -> list[tuple[str, str]]:
    types = reference.document_types()
    english = fmt.locale == "en"
    choices = sorted(
        ((code, f"{t.label_en if english else t.label_fr} ({code})") for code, t in types.items()),
        key=lambda c: c[1],
    )
    return [("", fmt.gettext(N_("Choose a type"))), *choices]


def _patient_page(
    request: Request,
    db: Session,
    principal: Principal,
    patient: Holder,
    *,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    fmt = formatter(request)
    settings = settings_of(request)
    identity = fhir.read_patient(db, settings, principal, str(patient.id), request_id=rid(request))
    names = identity.get("name", [{}])[0]
    pro = account_service.professional(db, principal.id)
    errors = errors or FormErrors()
    timeline = pro_summary.document_timeline(
        request, db, principal, patient, pro is not None, errors
    )
    if errors and status == 200:
        status = 400
    grant = current_grant(db, patient, pro, _relation(principal)) if pro is not None else None
    banner: dict[str, str] | None = None
    if grant is not None:
        banner = {
            "mode": fmt.gettext(MODES.get(grant.mode, N_("Emergency"))),
            "until": fmt.datetime(grant.expires_at, "short"),
        }
    return render(
        request,
        "pro_patient.html",
        {
            "given": " ".join(names.get("given", [])),
            "family": names.get("family", ""),
            "birth_date": fmt.date(patient.birth_date, "long"),
            "summary": pro_summary.summary(request, db, principal, patient),
            "relation": pro_summary.relation(request, db, principal, patient),
            "docs": timeline,
            "types_filter": [("", fmt.gettext(N_("All types"))), *_type_choices(fmt)[1:]],
            "banner": banner,
            "regulator": principal.kind is PrincipalKind.REGULATOR,
            "is_physician": pro is not None and pro.profession_code == care_team.GP_PROFESSION,
            "types": _type_choices(fmt),
            "values": values or {},
            "accept": ACCEPT,
            "nonce": secrets.token_urlsafe(12),
            "max_size": fmt.size(settings.max_upload_bytes),
            "inline_types": INLINE_TYPES,
        },
        title=fmt.gettext(N_("Patient record")),
        errors=errors,
        status=status,
        shell=pro_shell(),
    )


@router.get(PATIENT, name="portal_pro_patient")
def patient_page(request: Request, visit: Visit = visiting(pro_session)) -> Response:
    patient = _require_patient(visit.db, request)
    return _patient_page(request, visit.db, visit.principal, patient)


@router.post(f"{PATIENT}/declare", name="portal_pro_declare")
def declare(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(pro_session),
) -> Response:
    """ACC-1: "I treat this patient"; ACC-4: ticked "I am the GP", a proposal that the patient
    confirms (the page says so)."""
    fmt = formatter(request)
    patient = _require_patient(visit.db, request)
    as_gp = text(form, "as_gp", 5) == "1"
    try:
        outcome = care_team.declare(
            visit.db,
            settings_of(request),
            visit.principal,
            patient.nir,
            as_gp=as_gp,
            request_id=rid(request),
        )
    except CarnetError as exc:
        errors = FormErrors()
        errors.add("as_gp" if exc.field == "as_gp" else None, messages.describe(exc, fmt))
        return _patient_page(
            request, visit.db, visit.principal, patient, errors=errors, status=exc.status_code
        )
    # ACC-3: a blocked physician's proposal reads as anyone's (the API answers alike).
    flash = "care-gp-proposed" if as_gp else DECLARED.get(outcome, "care-declared")
    sessions.set_flash(visit.db, visit.live, flash)
    return redirect(PATIENT)


@router.post(f"{PATIENT}/message", name="portal_pro_write")
def write_to_patient(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(pro_session),
) -> Response:
    """SRV-1, ID-3: open a conversation with the current patient (`messaging.conversations.start` asks
    the decision point); a refusal is shown on the page, audited, nothing else written."""
    fmt = formatter(request)
    patient = _require_patient(visit.db, request)
    values = {"subject": text(form, "subject", 400), "message": text(form, "message", 40_000)}
    ctx = Context(visit.db, vault_of(request), settings_of(request), visit.principal, rid(request))
    new = NewConversation(subject=values["subject"], message=NewMessage(body=values["message"]))
    try:
        conversation, _first = conversations.start(ctx, patient, new)
    except CarnetError as exc:
        errors = FormErrors()
        field = {"subject": "subject", "body": "message"}.get(exc.field or "")
        errors.add(field, messages.describe(exc, fmt))
        return _patient_page(
            request,
            visit.db,
            visit.principal,
            patient,
            errors=errors,
            values=values,
            status=exc.status_code,
        )
    sessions.set_flash(visit.db, visit.live, "message-sent")
    return redirect(f"/pro/messages/{conversation.id}")


@router.post(f"{PATIENT}/emergency", name="portal_pro_emergency")
def emergency(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(pro_session),
) -> Response:
    """ACC-5: break-the-glass (or regulation) with a mandatory reason; a refusal is recorded."""
    fmt = formatter(request)
    patient = _require_patient(visit.db, request)
    reason = text(form, "reason", 2000)
    errors = FormErrors()
    if not reason.strip():
        errors.add("reason", fmt.gettext(N_("Give the reason for the emergency access.")))
        return _patient_page(
            request,
            visit.db,
            visit.principal,
            patient,
            errors=errors,
            values={"reason": reason},
            status=400,
        )
    try:
        access_emergency.open_emergency(
            visit.db,
            vault_of(request),
            settings_of(request),
            visit.principal,
            patient.nir,
            reason,
            request_id=rid(request),
        )
    except CarnetError as exc:
        # The refusal is recorded by the service: the page is answered normally, so it is kept.
        errors.add("reason" if exc.field == "reason" else None, messages.describe(exc, fmt))
        return _patient_page(
            request,
            visit.db,
            visit.principal,
            patient,
            errors=errors,
            values={"reason": reason},
            status=exc.status_code,
        )
    sessions.set_flash(visit.db, visit.live, "emergency-opened")
    return redirect(PATIENT)


@router.post(f"{PATIENT}/deposit", name="portal_pro_deposit")
@large_body
def deposit(
    request: Request,
    form: FormData = Depends(form_data),
    visit: Visit = visiting(pro_session),
) -> Response:
    """ACC-2, DOC-1: a PDF with a LOINC type; drag-and-drop (JSON) or the plain file field."""
    fmt = formatter(request)
    settings = settings_of(request)
    patient = _require_patient(visit.db, request)
    values = {"title": text(form, "title", 300), "type_code": text(form, "type_code", 20)}
    errors = FormErrors()
    file = form.get("file")
    if not values["type_code"]:
        errors.add("type_code", fmt.gettext(N_("Choose the type of the document.")))
    if not isinstance(file, UploadFile) or not file.filename:
        errors.add("file", fmt.gettext(N_("Choose a file to add.")))
    if errors or not isinstance(file, UploadFile):
        return _deposit_refused(request, visit.db, visit.principal, patient, errors, values, 400)
    content = file.file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        errors.add("file", _too_large(fmt, settings.max_upload_bytes))
        return _deposit_refused(request, visit.db, visit.principal, patient, errors, values, 413)
    name = PurePath((file.filename or "").replace("\\", "/")).name[:200]
    title = values["title"].strip() or (PurePath(name).stem or name)
    if not sessions.use_nonce(visit.db, visit.live, text(form, "nonce", 40)):
        sessions.set_flash(visit.db, visit.live, "already-received")
        return _after_deposit(request)
    new = deposits.NewDocument(
        content=content,
        title=title[:300],
        declared_type=file.content_type or None,
        type_code=values["type_code"],
        original_name=name or None,
    )
    try:
        deposits.deposit(
            visit.db,
            vault_of(request),
            settings,
            visit.principal,
            patient,
            new,
            request_id=rid(request),
        )
    except CarnetError as exc:
        visit.db.rollback()
        message = (
            _too_large(fmt, settings.max_upload_bytes)
            if exc.code == "too-large"
            else messages.describe(exc, fmt)
        )
        field = {"title": "title", "type_code": "type_code"}.get(exc.field or "", "file")
        errors.add(field, message)
        patient = _require_patient(visit.db, request)
        return _deposit_refused(
            request, visit.db, visit.principal, patient, errors, values, exc.status_code
        )
    sessions.set_flash(visit.db, visit.live, "document-added")
    return _after_deposit(request)


def _too_large(fmt: Formatter, limit: int) -> str:
    return fmt.gettext(N_("The file is larger than the %(size)s limit.")) % {
        "size": fmt.size(limit)
    }


def _after_deposit(request: Request) -> Response:
    if wants_json(request):
        return JSONResponse({"redirect": PATIENT})
    return redirect(PATIENT)


def _deposit_refused(
    request: Request,
    db: Session,
    principal: Principal,
    patient: Holder,
    errors: FormErrors,
    values: dict[str, str],
    status: int,
) -> Response:
    if wants_json(request):
        field, message = next(iter(errors.fields.items()), ("", " ".join(errors.general)))
        return JSONResponse({"error": {"message": message, "field": field}}, status_code=status)
    return _patient_page(
        request, db, principal, patient, errors=errors, values=values, status=status
    )


def _patient_document(db: Session, request: Request, document_id: uuid.UUID) -> Holder:
    """404 unless the document is the current patient's; the service then decides."""
    patient = _require_patient(db, request)
    found = documents.document(db, document_id)
    if found is None or found.holder_id != patient.id:  # only the current patient's documents
        raise NotFound("No such document.")
    return patient


@router.get("/pro/documents/{document_id}", name="portal_pro_document")
def document_page(
    request: Request, document_id: uuid.UUID, visit: Visit = visiting(pro_session)
) -> Response:
    """A structured (CDA) document shown in the page (issue 16 item 5), read like its download."""
    fmt = formatter(request)
    _patient_document(visit.db, request, document_id)
    doc = documents.get(
        visit.db, settings_of(request), visit.principal, document_id, request_id=rid(request)
    )
    row = describe(visit.db, request, visit.principal, [doc])[0]
    structured = (
        structured_view(visit.db, request, visit.principal, document_id) if row.structured else None
    )
    return render(
        request,
        "pro_document.html",
        {"doc": row, "structured": structured},
        # Never the document's title: titles can say what the document is about.
        title=fmt.gettext(N_("Document")),
        shell=pro_shell(),
    )


@router.get("/pro/documents/{document_id}/content", name="portal_pro_document_content")
def document_content(
    request: Request,
    document_id: uuid.UUID,
    visit: Visit = visiting(pro_session),
) -> Response:
    """The content through `documents.service.read_content` (decision, audit, hash check)."""
    _patient_document(visit.db, request, document_id)
    doc, content = read_content(visit.db, request, visit.principal, document_id)
    inline = doc.mime_type in INLINE_TYPES
    return content_response(visit.db, request, doc, content, doc.mime_type, inline=inline)


@router.get("/pro/documents/{document_id}/embedded", name="portal_pro_document_embedded")
def document_embedded(
    request: Request,
    document_id: uuid.UUID,
    visit: Visit = visiting(pro_session),
) -> Response:
    """The PDF or image a level-1 CDA document wraps, for the page's frame."""
    _patient_document(visit.db, request, document_id)
    return embedded_response(visit.db, request, visit.principal, document_id)
