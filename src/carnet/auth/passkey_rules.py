"""Pure rules of passkeys (WebAuthn): who Carnet is to browsers, whose a passkey is, what a
ceremony may still do. No I/O: `carnet.auth.passkeys` applies them; the `webauthn` library does
every check of what an authenticator signed.

Carnet decisions (docs/security.md, "Passkeys"):
- PK-1 the relying party ID is a host name: the configured one, else the host of the public base
  URL, else `localhost` when that host is an IP address (browsers refuse an IP as RP ID);
- PK-2 a passkey belongs to the person: a professional's serves their professional and their
  regulator logins alike (ACC-5 regulators are professionals);
- PK-3 a ceremony's challenge is used once, within `CHALLENGE_TTL`, by the browser it was given to;
- PK-4 a signature counter that does not advance is refused (a cloned authenticator), unless the
  authenticator keeps no counter at all (both values 0, as synced passkeys do);
- PK-5 a password-less sign-in requires user verification (the passkey is then both factors); as
  the second factor after a password, user presence is enough.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from urllib.parse import urlsplit

from carnet.auth.principal import PrincipalKind

CHALLENGE_TTL = dt.timedelta(minutes=5)
MAX_PASSKEYS = 10  # per person: enough for every device, few enough to list
MAX_NAME = 60

REGISTER = "register"
SECOND_FACTOR = "second-factor"
SIGN_IN = "sign-in"
PURPOSES = frozenset({REGISTER, SECOND_FACTOR, SIGN_IN})


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def relying_party_id(base_url: str, configured: str = "") -> str:
    """PK-1: the RP ID browsers scope passkeys to."""
    if configured.strip():
        return configured.strip().lower()
    host = (urlsplit(base_url).hostname or "").lower()
    return "localhost" if not host or _is_ip(host) else host


def relying_party_origin(base_url: str, rp_id: str, configured: str = "") -> str:
    """PK-1: the origin browsers put in what they sign: the base URL's scheme and port, the RP ID
    as host (so `http://127.0.0.1:8000` is reached as `http://localhost:8000`)."""
    if configured.strip():
        return configured.strip().rstrip("/")
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{rp_id}{port}"


def owner_kind(kind: PrincipalKind) -> PrincipalKind:
    """PK-2: the kind a passkey is kept under for a login of `kind`."""
    return PrincipalKind.PROFESSIONAL if kind is PrincipalKind.REGULATOR else kind


def may_log_in_as(owner: PrincipalKind, kind: PrincipalKind) -> bool:
    """PK-2: a passkey of `owner` opens a login of `kind`."""
    return owner_kind(kind) is owner


def challenge_usable(
    now: dt.datetime,
    expires_at: dt.datetime,
    used_at: dt.datetime | None,
    purpose: str,
    wanted: str,
) -> bool:
    """PK-3: unused, unexpired, and asked for this very ceremony."""
    return used_at is None and now < expires_at and purpose == wanted


def sign_count_advances(stored: int, received: int) -> bool:
    """PK-4: the counter grows, or the authenticator keeps none."""
    return (stored == 0 and received == 0) or received > stored


def requires_user_verification(purpose: str) -> bool:
    """PK-5."""
    return purpose != SECOND_FACTOR


def clean_name(name: str) -> str:
    """The name a person gives a passkey ("Téléphone", "Clé USB"): trimmed, one line, short."""
    return " ".join(name.split())[:MAX_NAME]
