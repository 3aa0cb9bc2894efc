"""Passkeys (WebAuthn) of holders and professionals: registering one while signed in, using one as
the second step of a login instead of the e-mailed code, or alone to sign in (password-less).

Every check of what an authenticator signed (client data, RP ID hash, flags, signature, counter)
is the `webauthn` library's; Carnet adds the rules of `passkey_rules` (PK-1…PK-5) and the login's
own bookkeeping, reused from `auth.login`: the same throttles (a refused passkey counts as a wrong
code), the same audit entries (ACC-8) and the same end (`login.open_login`).

Carnet decisions:
- registering asks for the current password, whatever the age of the session: a session left open
  on a shared computer must not be enough to plant a way in (a wrong password counts as a failed
  login, throttled and audited);
- a ceremony's challenge is kept server-side (`PasskeyChallenge`), bound to the browser by a random
  cookie of which only the SHA-256 is stored, used once (at the first answer, good or bad), dead
  after `CHALLENGE_TTL`; a registration is further bound to the portal session that asked;
- the second factor is bound to the login whose password passed (its e-mailed-code challenge):
  it ends that login as the code would, and a refused passkey costs one of its tries.

Functions never raise for a refused attempt: like `auth.login`, they return an `Outcome` whose
error the caller raises (or shows) after committing, so counters and audit entries persist.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.parse_authentication_credential_json import (
    parse_authentication_credential_json,
)
from webauthn.helpers.parse_registration_credential_json import (
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from carnet import clock
from carnet.accounts import passwords
from carnet.audit.service import record
from carnet.auth import login, throttle
from carnet.auth import passkey_rules as rules
from carnet.auth.models import LoginChallenge, Passkey, PasskeyChallenge
from carnet.auth.principal import Principal, PrincipalKind
from carnet.config import Settings
from carnet.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from carnet.notifications.service import enqueue
from carnet.vault.service import Vault

COOKIE = "carnet_passkey"  # the browser's half of a ceremony (PK-3)
RP_NAME = "Carnet"
TIMEOUT_MS = 120_000  # how long the browser waits for the person, within CHALLENGE_TTL
MAX_CREDENTIAL_JSON = 16_000

ADDED_SUBJECT = "Une clé d'accès a été ajoutée à votre compte Carnet"


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str


@dataclass(frozen=True)
class Ceremony:
    """A ceremony begun: the options the browser passes to `navigator.credentials`, and the value
    of the cookie that binds the answer to this browser."""

    options_json: str
    token: str
    expires_in: int


def relying_party(settings: Settings) -> RelyingParty:
    """PK-1, from the settings."""
    rp_id = rules.relying_party_id(settings.base_url, settings.webauthn_rp_id)
    return RelyingParty(
        rp_id, rules.relying_party_origin(settings.base_url, rp_id, settings.webauthn_origin)
    )


def _owner(kind: PrincipalKind, principal_id: uuid.UUID) -> Principal:
    return Principal(rules.owner_kind(kind), principal_id)


def listed(session: Session, principal: Principal) -> Sequence[Passkey]:
    """The person's passkeys, the newest first."""
    owner = _owner(principal.kind, principal.id)
    return session.scalars(
        select(Passkey)
        .where(Passkey.principal_kind == owner.kind.value, Passkey.principal_id == owner.id)
        .order_by(Passkey.created_at.desc(), Passkey.id)
    ).all()


def _count(session: Session, owner: Principal) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Passkey)
            .where(Passkey.principal_kind == owner.kind.value, Passkey.principal_id == owner.id)
        )
        or 0
    )


def _descriptors(passkeys: Sequence[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for passkey in passkeys:
        transports = []
        for name in passkey.transports.split():
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue  # a transport this library does not know: only a hint
        descriptors.append(
            PublicKeyCredentialDescriptor(
                id=base64url_to_bytes(passkey.credential_id), transports=transports or None
            )
        )
    return descriptors


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _begin(session: Session, purpose: str, challenge: bytes, **bound: Any) -> str:
    """Keep the challenge of a new ceremony (PK-3); dead ones are swept on the way."""
    now = clock.now()
    session.execute(delete(PasskeyChallenge).where(PasskeyChallenge.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        PasskeyChallenge(
            token_hash=_token_hash(token),
            purpose=purpose,
            challenge=bytes_to_base64url(challenge),
            created_at=now,
            expires_at=now + rules.CHALLENGE_TTL,
            **bound,
        )
    )
    session.flush()
    return token


def _take(session: Session, token: str, purpose: str) -> PasskeyChallenge | None:
    """The ceremony of this browser's cookie, used up now whatever the answer (PK-3)."""
    if not token or len(token) > 100:
        return None
    row = session.scalars(
        select(PasskeyChallenge)
        .where(PasskeyChallenge.token_hash == _token_hash(token))
        .with_for_update()
    ).first()
    if row is None:
        return None
    now = clock.now()
    usable = rules.challenge_usable(now, row.expires_at, row.used_at, row.purpose, purpose)
    row.used_at = row.used_at or now
    return row if usable else None


def _ceremony(options: Any, token: str) -> Ceremony:
    return Ceremony(options_to_json(options), token, int(rules.CHALLENGE_TTL.total_seconds()))


ENDED = "This passkey request has ended: try again."


def _ended() -> Unauthenticated:
    return Unauthenticated(ENDED, code="passkey-ended")


def _refused() -> Unauthenticated:
    return Unauthenticated("This passkey was not accepted.", code="passkey-refused")


# -- registering --------------------------------------------------------------------------------


def registration_options(
    session: Session,
    vault: Vault,
    settings: Settings,
    principal: Principal,
    portal_session_id: uuid.UUID,
    *,
    password: str,
    name: str,
    client: str,
    request_id: str | None = None,
) -> login.Outcome[Ceremony]:
    """Begin registering a passkey: the current password first (Carnet decision above)."""
    name = rules.clean_name(name)
    if not name:
        return login.Outcome(
            error=InvalidInput("Give this passkey a name.", code="passkey-name", field="name")
        )
    account = login.source(principal.kind).by_id(session, principal.id)
    if account is None:
        return login.Outcome(error=_ended())
    key = login.throttle_key(session, vault, principal.kind, account.username, client)
    wait = login.refusal(session, vault, settings, key, client)
    if wait is not None:
        return login.Outcome(error=wait)
    if not passwords.verify_password(account.password_hash, password):
        login.count_failure(session, vault, settings, key, client)
        login.audit_failure(session, account, "bad-password:passkey", request_id)
        return login.Outcome(
            error=Unauthenticated(
                "The password is not correct.", code="passkey-bad-password", field="password"
            )
        )
    owner = _owner(principal.kind, principal.id)
    if _count(session, owner) >= rules.MAX_PASSKEYS:
        return login.Outcome(
            error=Conflict("You have as many passkeys as allowed.", code="passkey-limit")
        )
    rp = relying_party(settings)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_name=account.username,
        user_id=owner.id.bytes,  # the user handle: an id, never a name or a NIR
        user_display_name=account.username,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(listed(session, principal)),
    )
    token = _begin(
        session,
        rules.REGISTER,
        options.challenge,
        principal_kind=owner.kind.value,
        principal_id=owner.id,
        holder_id=account.holder_id,
        portal_session_id=portal_session_id,
        name=name,
    )
    return login.Outcome(_ceremony(options, token))


def register(
    session: Session,
    settings: Settings,
    principal: Principal,
    portal_session_id: uuid.UUID,
    token: str,
    credential: str,
    *,
    request_id: str | None = None,
) -> login.Outcome[Passkey]:
    """Finish registering: the library verifies the attestation ('none' or self attestation
    suffice: Carnet trusts the person, not a make of authenticator) with user verification."""
    row = _take(session, token, rules.REGISTER)
    owner = _owner(principal.kind, principal.id)
    if (
        row is None
        or row.portal_session_id != portal_session_id
        or row.principal_kind != owner.kind.value
        or row.principal_id != owner.id
    ):
        return login.Outcome(error=_ended())
    rp = relying_party(settings)
    try:
        parsed = parse_registration_credential_json(credential[:MAX_CREDENTIAL_JSON])
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(row.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        return login.Outcome(
            error=InvalidInput("The passkey could not be verified.", code="passkey-invalid")
        )
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        return login.Outcome(
            error=Conflict("This passkey is already registered.", code="passkey-known")
        )
    transports = parsed.response.transports or []
    passkey = Passkey(
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=" ".join(t.value for t in transports)[:100],
        principal_kind=owner.kind.value,
        principal_id=owner.id,
        holder_id=row.holder_id,
        name=row.name,
        created_at=clock.now(),
    )
    session.add(passkey)
    session.flush()
    record(
        session,
        principal,
        "auth.passkey-add",
        holder_id=row.holder_id,
        target_type="Passkey",
        target_id=str(passkey.id),
        request_id=request_id,
    )
    _tell_added(session, principal, row.holder_id)
    return login.Outcome(passkey)


def added_text() -> str:
    """The e-mail telling a passkey was added, in French (what holders read by default)."""
    return "\n".join(
        [
            "Bonjour,",
            "",
            "Une clé d'accès (passkey) vient d'être ajoutée à votre compte Carnet : elle permet "
            "désormais de vous connecter.",
            "",
            "Si vous n'êtes pas à l'origine de cet ajout, connectez-vous, retirez cette clé dans "
            "« Mon compte » et changez votre mot de passe.",
        ]
    )


def _tell_added(session: Session, principal: Principal, holder_id: uuid.UUID | None) -> None:
    account = login.source(principal.kind).by_id(session, principal.id)
    if account is not None and account.email:
        enqueue(
            session,
            kind="auth.passkey-added",
            recipient=account.email,
            subject=ADDED_SUBJECT,
            body_text=added_text(),
            holder_id=holder_id,
        )


def revoke(
    session: Session, principal: Principal, passkey_id: uuid.UUID, *, request_id: str | None = None
) -> None:
    """Remove one of the person's passkeys (ACC-8: recorded); another person's is not found."""
    passkey = owned(session, principal, passkey_id)
    session.delete(passkey)
    record(
        session,
        principal,
        "auth.passkey-revoke",
        holder_id=passkey.holder_id,
        target_type="Passkey",
        target_id=str(passkey.id),
        request_id=request_id,
    )


def owned(session: Session, principal: Principal, passkey_id: uuid.UUID) -> Passkey:
    owner = _owner(principal.kind, principal.id)
    passkey = session.get(Passkey, passkey_id)
    if (
        passkey is None
        or passkey.principal_kind != owner.kind.value
        or passkey.principal_id != owner.id
    ):
        raise NotFound("No such passkey.", code="passkey-unknown")
    return passkey


# -- logging in ---------------------------------------------------------------------------------


def second_factor_offered(session: Session, vault: Vault, login_challenge: str) -> bool:
    """Whether the login half done under `login_challenge` may end with a passkey."""
    if not login_challenge:
        return False
    pending = login.live_challenge(session, vault, login_challenge, lock=False)
    if pending is None:
        return False
    owner = _owner(PrincipalKind(pending.principal_kind), pending.principal_id)
    return _count(session, owner) > 0


def sign_in_options(
    session: Session, vault: Vault, settings: Settings, *, login_challenge: str | None
) -> login.Outcome[Ceremony]:
    """Begin a sign-in: after the password (`login_challenge`: that login's passkeys are
    allowed, user presence is enough, PK-5) or without (any passkey of Carnet, discoverable,
    with user verification)."""
    rp = relying_party(settings)
    if login_challenge is None:
        options = generate_authentication_options(
            rp_id=rp.id, timeout=TIMEOUT_MS, user_verification=UserVerificationRequirement.REQUIRED
        )
        return login.Outcome(_ceremony(options, _begin(session, rules.SIGN_IN, options.challenge)))
    pending = login.live_challenge(session, vault, login_challenge)
    if pending is None:
        return login.Outcome(error=_ended())
    owner = _owner(PrincipalKind(pending.principal_kind), pending.principal_id)
    passkeys = listed(session, owner)
    if not passkeys:
        return login.Outcome(error=NotFound("No passkey for this account.", code="no-passkey"))
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(passkeys),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    token = _begin(
        session,
        rules.SECOND_FACTOR,
        options.challenge,
        principal_kind=pending.principal_kind,
        principal_id=pending.principal_id,
        login_challenge_id=pending.id,
    )
    return login.Outcome(_ceremony(options, token))


def sign_in(
    session: Session,
    vault: Vault,
    settings: Settings,
    kind: PrincipalKind,
    token: str,
    credential: str,
    *,
    login_challenge: str | None,
    client: str,
    request_id: str | None = None,
) -> login.Outcome[login.LoginDone]:
    """Finish a sign-in with a passkey: as the second step of the login under `login_challenge`
    (which then ends, as with its e-mailed code), or alone as a principal of `kind`."""
    wait = throttle.refusal(session, vault, settings, throttle.LOGIN, client)
    if wait is not None:
        return login.Outcome(error=wait)
    purpose = rules.SIGN_IN if login_challenge is None else rules.SECOND_FACTOR
    row = _take(session, token, purpose)
    pending = login.live_challenge(session, vault, login_challenge) if login_challenge else None
    if row is None or (login_challenge is not None and pending is None):
        return login.Outcome(error=_ended())
    if pending is not None:
        if row.login_challenge_id != pending.id:
            return login.Outcome(error=_ended())
        kind = PrincipalKind(pending.principal_kind)
    try:
        parsed = parse_authentication_credential_json(credential[:MAX_CREDENTIAL_JSON])
    except (WebAuthnException, ValueError, TypeError, KeyError):
        parsed = None
    passkey = (
        session.scalars(
            select(Passkey)
            .where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id))
            .with_for_update()
        ).first()
        if parsed is not None
        else None
    )
    owner_id = pending.principal_id if pending is not None else None
    if owner_id is None and passkey is not None:
        owner_id = passkey.principal_id
    account = login.source(kind).by_id(session, owner_id) if owner_id is not None else None
    if (
        parsed is None
        or passkey is None
        or account is None
        or passkey.principal_id != account.id
        or not rules.may_log_in_as(PrincipalKind(passkey.principal_kind), kind)
    ):
        return _failed(
            session, vault, settings, account, client, pending, "unknown-passkey", request_id
        )
    if parsed.response.user_handle is not None and parsed.response.user_handle != account.id.bytes:
        return _failed(
            session, vault, settings, account, client, pending, "bad-passkey", request_id
        )
    key = login.throttle_key(session, vault, kind, account.username, client)
    wait = login.refusal(session, vault, settings, key, client)
    if wait is not None:
        return login.Outcome(error=wait)
    rp = relying_party(settings)
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(row.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=rules.requires_user_verification(purpose),
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        verified = None
    if verified is None or not rules.sign_count_advances(
        passkey.sign_count, verified.new_sign_count
    ):
        return _failed(
            session, vault, settings, account, client, pending, "bad-passkey", request_id, key
        )
    if account.refusal is not None:
        if pending is not None:
            pending.used_at = clock.now()
        login.audit_failure(session, account, f"refused:{account.refusal.code}", request_id)
        return login.Outcome(error=account.refusal)
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = clock.now()
    if pending is not None:
        pending.used_at = clock.now()  # the e-mailed code of this login is worth nothing now
    done = login.open_login(session, settings, account, key, request_id=request_id, reason=purpose)
    return login.Outcome(done)


def _failed(
    session: Session,
    vault: Vault,
    settings: Settings,
    account: login.Account | None,
    client: str,
    pending: LoginChallenge | None,
    reason: str,
    request_id: str | None,
    key: str | None = None,
) -> login.Outcome[login.LoginDone]:
    """A refused passkey counts as a wrong code: throttled per client (and per username from
    that client when the person is known), a try of the login spent, the failure audited."""
    if pending is not None:
        pending.attempts += 1
    if account is not None:
        key = key or login.throttle_key(session, vault, account.kind, account.username, client)
        login.count_failure(session, vault, settings, key, client)
    else:
        throttle.note_failure(session, vault, settings, throttle.LOGIN, client)
    login.audit_failure(session, account, reason, request_id)
    return login.Outcome(error=_refused())
