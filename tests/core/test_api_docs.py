"""`/docs` works without internet (issue 16): the Swagger UI page names no outside host and its
scripts, styles and icon come from this server (`carnet.api_docs`), as public as the page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from carnet.http import DOCS_CSP


def _referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_the_docs_page_names_no_outside_host(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text and "/openapi.json" in page.text
    urls = _referenced(page.text)
    assert len(urls) == 3  # the script, the style sheet, the icon
    assert all(url.startswith("/docs/assets/") for url in urls), urls
    assert not re.search(r"https?://", page.text)
    assert "http" not in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"] == DOCS_CSP


def test_its_assets_are_served_without_a_login(client: TestClient) -> None:
    page = client.get("/docs").text
    for url in _referenced(page):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert len(answer.content) > 500, url
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in script.text


def test_only_the_files_the_page_loads_are_served(client: TestClient) -> None:
    for name in ("redoc.standalone.js", "index.html", "..%2F..%2Ffastapi_offline%2F__init__.py"):
        assert client.get(f"/docs/assets/{name}").status_code == 404, name


def test_the_oauth2_return_page_is_served(client: TestClient) -> None:
    answer = client.get("/docs/oauth2-redirect")
    assert answer.status_code == 200 and "oauth2" in answer.text.lower()


def test_the_docs_are_not_in_the_api_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/docs")]
