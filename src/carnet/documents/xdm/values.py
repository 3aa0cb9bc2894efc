"""HL7 values read in XDS metadata: DTM dates, CX patient ids, XCN authors (RPPS, rule ID-2) and
uniqueIds turned into Carnet's master identifiers (note §3.2, §3.5, §4.1, §4.2)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from carnet.accounts import rules as account_rules
from carnet.documents.xdm.codes import RPPS_OID

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_DTM_RE = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-]\d{4})?$"
)


def parse_dtm(value: str | None) -> dt.datetime | None:
    """An HL7 DTM (`YYYY[MM[DD[hh[mm[ss]]]]]`, UTC by the XDS rule) as an aware datetime; a zone
    suffix, if a producer adds one, is honoured. ValueError when malformed."""
    if value is None or not value.strip():
        return None
    match = _DTM_RE.match(value.strip())
    if match is None:
        raise ValueError("not an HL7 DTM")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = dt.datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
        tzinfo=dt.UTC,
    )
    if zone:
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return moment


@dataclass(frozen=True)
class PatientId:
    number: str
    authority: str
    type_code: str


def parse_cx(value: str) -> PatientId:
    """`id^^^&authorityOID&ISO^NH` (note §4.1)."""
    parts = value.split("^")
    authority = parts[3].split("&") if len(parts) > 3 else []
    oid = authority[1] if len(authority) > 1 else (authority[0] if authority else "")
    return PatientId(parts[0].strip(), oid.strip(), parts[4].strip() if len(parts) > 4 else "")


@dataclass(frozen=True)
class AuthorId:
    rpps: str | None
    note: str | None


def author_rpps(person: str) -> AuthorId:
    """The RPPS number of an authorPerson XCN (note §4.2; rule ID-2).

    XCN.1 is the national PS id: `8` + RPPS (stored without the prefix, as the 11-digit RPPS that
    rule ID-2 defines), `0` + ADELI (not an RPPS: not stored); XCN.9 must be the RPPS authority
    1.2.250.1.71.4.2.1; devices (`EI`) have no RPPS."""
    parts = person.split("^")
    number = parts[0].strip()
    authority = parts[8].split("&") if len(parts) > 8 else []
    oid = authority[1] if len(authority) > 1 else (authority[0] if authority else "")
    id_type = parts[12].strip() if len(parts) > 12 else ""
    if not number:
        return AuthorId(None, "author without a national identifier")
    if oid.strip() != RPPS_OID:
        return AuthorId(None, "author identifier not issued by the RPPS authority")
    if id_type == "EI":
        return AuthorId(None, "author is a device or system, not a professional")
    if len(number) == 12 and number.startswith("8"):
        candidate = number[1:]
    elif len(number) == 11 and number.isdigit():
        candidate = number
    elif number.startswith("0"):
        return AuthorId(None, "author identified by ADELI, not RPPS")
    else:
        return AuthorId(None, "author national identifier is not an RPPS (prefix 8)")
    problem = account_rules.rpps_problem(candidate)
    if problem:
        return AuthorId(None, f"author RPPS invalid ({problem})")
    return AuthorId(candidate, None)


def master_identifier(unique_id: str) -> str:
    """Carnet's master identifier of an XDS uniqueId (note §3.5, §5): `urn:oid:<oid>`,
    `urn:uuid:<uuid>`, or `root^extension` kept verbatim. ValueError otherwise."""
    value = unique_id.strip()
    if value.lower().startswith("urn:oid:"):
        value = value[8:]
    if _OID_RE.match(value) and len(value) <= 64:
        return f"urn:oid:{value}"
    bare = value[9:] if value.lower().startswith("urn:uuid:") else value
    if _UUID_RE.match(bare):
        return f"urn:uuid:{bare.lower()}"
    root, caret, extension = value.partition("^")
    if (
        caret
        and _OID_RE.match(root)
        and extension
        and len(value) <= 128
        and all(c.isprintable() and not c.isspace() for c in extension)
    ):
        return value
    raise ValueError("uniqueId is neither an OID, a UUID nor root^extension (at most 128)")
