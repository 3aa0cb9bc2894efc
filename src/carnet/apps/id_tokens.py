"""OpenID Connect for connected apps: the id_token an app gets with `openid`, and the keys to check it.

SMART App Launch v2 (`sso-openid-connect`): an app asking `openid fhirUser` learns who approved
the connection — `sub`, stable per person, and `fhirUser`, the URL of that person's Patient resource —
in an id_token signed RS256 with Carnet's key, published at `/oauth/jwks`. The key is a file beside
the database (`keyfiles`), generated on first use; its id is its RFC 7638 thumbprint, so a new key
gets a new `kid` and apps holding the old JWKS fetch it again.

The id_token carries identifiers only, never a name or birth date: what an app may read about the
holder it reads through the FHIR API, behind the decision point and the audit.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from carnet.config import Settings
from carnet.keyfiles import load_private_key

ALGORITHM = "RS256"  # SMART: servers SHALL support RS256 for id_tokens
LIFETIME = dt.timedelta(minutes=5)


def _generate() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@lru_cache(maxsize=4)
def _key_of(path: Path) -> RSAKey:
    private = load_private_key(path, rsa.RSAPrivateKey, _generate, "id_token signing key")
    pem = private.private_bytes(  # load_private_key checked the kind
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = RSAKey.import_key(pem, {"use": "sig", "alg": ALGORITHM})
    return RSAKey.import_key(pem, {"use": "sig", "alg": ALGORITHM, "kid": key.thumbprint()})


def signing_key(settings: Settings) -> RSAKey:
    """The process's signing key, loaded (or generated) once per key file."""
    return _key_of(settings.effective_id_token_signing_key_file)


def jwks(settings: Settings) -> dict[str, Any]:
    """The public half, as a JWK Set (RFC 7517): what `jwks_uri` serves."""
    return {"keys": [signing_key(settings).as_dict(private=False)]}


def user_claims(person_id: str, scopes: list[str], fhir_base: str) -> dict[str, str]:
    """`sub` always; `fhirUser` when asked: the approving person's Patient resource (a holder,
    or a representative acting for a minor's space, who is a holder too)."""
    claims = {"sub": person_id}
    if "fhirUser" in scopes:
        claims["fhirUser"] = f"{fhir_base.rstrip('/')}/Patient/{person_id}"
    return claims
