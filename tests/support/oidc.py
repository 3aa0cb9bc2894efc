"""A real OpenID provider for the tests of federated sign-in: npm's `oidc-provider`, run by node
from tests/support/oidc_provider/ on a free 127.0.0.1 port, and a person's way through it.

Its node modules are installed by the Makefile (`npm ci`); without node or them, the tests that
need the provider are skipped, or fail when CARNET_TEST_REQUIRE_POSTGRES=1 (CI must run them).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from fastapi.testclient import TestClient

from carnet.accounts.rules import make_rpps
from carnet.config import OidcProvider

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CARNET = "http://testserver"  # the tests' base URL (tests/conftest.py)
PRO_RPPS = make_rpps(1_234_567)

# People the provider knows, with FranceConnect-like identity claims and an RPPS claim.
MARIE = {
    "family_name": "Dupont",
    "given_name": "Marie-Hélène Louise",
    "birthdate": "1985-04-12",
    "gender": "female",
    "birthplace": "75056",
    "birthcountry": "99100",
}
ACCOUNTS = {
    "marie": MARIE,
    "jean": {**MARIE, "given_name": "Jean", "gender": "male", "birthdate": "1990-02-03"},
    "nobody": {**MARIE, "family_name": "Inconnue"},
    "dr-martin": {"SubjectNameID": f"8{PRO_RPPS}"},
}


@dataclass(frozen=True)
class RunningProvider:
    issuer: str
    providers: tuple[OidcProvider, ...]


def _config(carnet: str) -> tuple[dict[str, object], dict[str, str]]:
    secrets_by_client = {name: secrets.token_urlsafe(32) for name in ("fc", "psc", "fcjwt")}
    clients = [
        {
            "client_id": f"carnet-{name}",
            "client_secret": secret,
            "redirect_uris": [f"{carnet}/login/oidc/{name}/callback"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            # FranceConnect signs its userinfo: so does this client's.
            **({"userinfo_signed_response_alg": "RS256"} if name == "fcjwt" else {}),
        }
        for name, secret in secrets_by_client.items()
    ]
    return {"port": 0, "clients": clients, "accounts": ACCOUNTS}, secrets_by_client


def _unavailable(reason: str) -> None:
    if os.environ.get("CARNET_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"the test OpenID provider cannot run: {reason} (run `make test-sqlite`)")
    pytest.skip(f"the test OpenID provider cannot run: {reason}")


@contextmanager
def running_provider(workdir: Path, carnet: str = CARNET) -> Iterator[RunningProvider]:
    """Start the provider for a Carnet at `carnet` (its base URL: where the provider sends people
    back), wait for its `LISTENING <issuer>` line, stop it at the end."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        _unavailable(f"its node modules are missing (npm ci --prefix {PROVIDER_DIR})")
    config, client_secrets = _config(carnet)
    config_file = workdir / "oidc-provider.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    process = subprocess.Popen(
        [str(node), str(PROVIDER_DIR / "provider.mjs"), str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=20)
        if not line or not line[0].startswith("LISTENING "):
            raise RuntimeError("the test OpenID provider did not start")
        issuer = line[0].split()[1]
        providers = (
            OidcProvider(
                name="fc",
                label="FranceConnect",
                issuer=issuer,
                client_id="carnet-fc",
                client_secret=client_secrets["fc"],
                kind="holder",
                acr_values=("eidas2", "eidas3"),
                scopes=("openid", "profile"),
            ),
            OidcProvider(
                name="psc",
                label="Pro Santé Connect",
                issuer=issuer,
                client_id="carnet-psc",
                client_secret=client_secrets["psc"],
                kind="professional",
                acr_values=("eidas2", "eidas3"),
                scopes=("openid", "rpps"),
            ),
            OidcProvider(
                name="fcjwt",
                label="FranceConnect (signed userinfo)",
                issuer=issuer,
                client_id="carnet-fcjwt",
                client_secret=client_secrets["fcjwt"],
                kind="holder",
                acr_values=("eidas2", "eidas3"),
                scopes=("openid", "profile"),
            ),
        )
        yield RunningProvider(issuer, providers)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def through_provider(client: TestClient, provider: str, login: str, acr: str = "eidas2") -> str:
    """A person starts the sign-in in Carnet and signs in at the provider as `login`, who vouches
    for `acr`: the Carnet callback path (with `code`, `state`, `iss`) the browser comes back to."""
    start = client.get(f"/login/oidc/{provider}", follow_redirects=False)
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        for _ in range(10):
            if location.startswith(CARNET):
                return location.removeprefix(CARNET)
            page = browser.get(location)
            if page.status_code == 200 and "/interaction/" in location:
                answer = browser.post(
                    f"{location.rstrip('/')}/login", data={"login": login, "acr": acr}
                )
                assert answer.status_code in (302, 303), answer.text
                location = urljoin(location, answer.headers["location"])
                continue
            assert page.status_code in (302, 303), page.text
            location = urljoin(location, page.headers["location"])
    raise AssertionError("the provider never sent the browser back to Carnet")
