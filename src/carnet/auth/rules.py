"""Pure rules of signing in: what a bearer token looks like, and throttling guesses (LC-2, LC-4):
who counts as one client, how long it waits.

No I/O: `carnet.auth.service` and `carnet.apps.service` issue and read the tokens,
`carnet.auth.throttle` applies the throttling rules to the shared `Throttle` rows.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

TOKEN_PREFIX = "cnt_"  # noqa: S105 - a prefix, not a secret
APP_TOKEN_PREFIX = "cna_"  # noqa: S105 - apps' access tokens (carnet.apps)


def client_group(address: str) -> str:
    """The unit a client is counted as: an IPv4 address, or an IPv6 /64 network.

    One subscriber usually holds a whole IPv6 /64 and may pick any address in it, so counting single
    IPv6 addresses would let one person be a billion clients. An IPv4-mapped IPv6 address counts as
    its IPv4 address. Anything else (a test client, a Unix socket) is taken as it is.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_wait_seconds(failures: int, free: int, longest: int) -> int:
    """How long a client waits after its `failures`-th failure (Carnet decision, LC-2, LC-4).

    The first `free` failures cost nothing (a person mistyping), then the wait doubles from one
    second: 1, 2, 4 … up to `longest`. Short, growing delays instead of a long lock: the client
    slows itself down, and nobody else.
    """
    over = failures - free
    if over <= 0:
        return 0
    return int(min(longest, 2 ** min(over - 1, 30)))


# -- password recovery (Carnet decision, LC-4 by analogy with codes) ---------------------------

# A recovery code sent by e-mail lasts as long as one takes to open one's mailbox; one sent by
# letter as long as the post takes, and a few days to act on it. Either dies after a few wrong
# tries; at most a few are sent a day for one account, so asking cannot flood anybody.
RECOVERY_EMAIL_TTL = dt.timedelta(minutes=30)
RECOVERY_LETTER_TTL = dt.timedelta(days=15)
RECOVERY_MAX_ATTEMPTS = 5
RECOVERIES_PER_DAY = 3


def recovery_ttl(channel: str) -> dt.timedelta:
    """How long a recovery code sent through `channel` ("email" or "letter") is valid."""
    return RECOVERY_LETTER_TTL if channel == "letter" else RECOVERY_EMAIL_TTL


# -- devices of portal sessions -----------------------------------------------------------------

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device_of(user_agent: str) -> str | None:
    """A coarse description of a browser ("Firefox, Linux") from its User-Agent, for the holder
    to recognise their sessions: a family and a system, never versions (they single a person
    out). None when neither is recognised."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser is None and system is None:
        return None
    return ", ".join(part for part in (browser, system) if part)
