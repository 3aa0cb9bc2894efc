from __future__ import annotations

from fastapi.testclient import TestClient

from carnet.db import Database
from tests.portal.support import log_in, make_account


def test_login_and_pages(client: TestClient, database: Database) -> None:
    make_account(database)
    log_in(client, database)
    for path in ("/home", "/documents", "/contacts", "/account", "/account/close"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:3000])
