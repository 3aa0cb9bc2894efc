"""`/openapi.json` says what Carnet answers (`carnet.openapi`, issue 15): the errors its handlers
really send, the FHIR resources its FHIR routes really return, the files its downloads serve."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carnet.documents.sniff import SERVED_TYPES
from carnet.http import FHIR_JSON


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_invalid_input_is_a_400_and_only_fhir_writes_document_a_422(spec: dict[str, Any]) -> None:
    """FastAPI's 422 for invalid input is answered 400; 422 is a FHIR write a rule refuses."""
    for path, method, op in _operations(spec):
        assert "400" in op["responses"], (method, path)
        fhir_write = path.startswith("/fhir") and method in ("post", "put", "patch")
        if not fhir_write or path.endswith("/_search"):
            assert "422" not in op["responses"], (method, path)
    assert "422" in spec["paths"]["/fhir/Observation"]["post"]["responses"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_errors_are_operation_outcomes_under_fhir_and_json_errors_elsewhere(
    spec: dict[str, Any], client: TestClient
) -> None:
    outcome = {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, method, op in _operations(spec):
        if path.startswith("/oauth/"):
            continue
        for status, response in op["responses"].items():
            if int(status) >= 400:
                wanted = outcome if path.startswith("/fhir") else error
                assert response["content"] == wanted, (method, path, status)
    # What the handlers really send, for one of each.
    answer = client.get("/fhir/Patient/x")
    assert (answer.status_code, answer.headers["content-type"]) == (401, FHIR_JSON)
    assert answer.json()["resourceType"] == "OperationOutcome"
    answer = client.get("/api/v1/me")
    assert answer.status_code == 401 and set(answer.json()["error"]) >= {"code", "message"}


def test_access_rules_and_paths_say_which_refusals_can_come(spec: dict[str, Any]) -> None:
    me = spec["paths"]["/api/v1/me/documents/{document_id}"]["get"]
    assert {"401", "403", "404"} <= set(me["responses"]) and me["security"] == [{"bearer": []}]
    health = spec["paths"]["/healthz"]["get"]
    assert "401" not in health["responses"] and "security" not in health
    assert "409" in spec["paths"]["/api/v1/me/folders"]["post"]["responses"]
    create = spec["paths"]["/fhir/DocumentReference"]["post"]["responses"]
    assert {"413", "415"} <= set(create)


def test_fhir_answers_name_their_resource(spec: dict[str, Any]) -> None:
    def answer(path: str, method: str, status: str = "200") -> str:
        content = spec["paths"][path][method]["responses"][status]["content"]
        assert list(content) == [FHIR_JSON], (method, path)
        ref: str = content[FHIR_JSON]["schema"]["$ref"]
        return ref.rsplit("/", 1)[1]

    assert answer("/fhir/DocumentReference", "get") == "FhirBundle"
    assert answer("/fhir/DocumentReference/_search", "post") == "FhirBundle"
    assert answer("/fhir/Patient/{patient_id}/$everything", "get") == "FhirBundle"
    assert answer("/fhir", "post") == "FhirBundle"
    assert answer("/fhir/Observation/{resource_id}", "get") == "FhirObservation"
    assert answer("/fhir/Observation", "post", "201") == "FhirObservation"
    assert answer("/fhir/metadata", "get") == "FhirCapabilityStatement"
    observation = spec["components"]["schemas"]["FhirObservation"]
    assert observation["properties"]["resourceType"] == {"type": "string", "const": "Observation"}
    body = spec["paths"]["/fhir/Observation"]["post"]["requestBody"]["content"]
    assert body[FHIR_JSON]["schema"] == {"$ref": "#/components/schemas/FhirObservation"}


def test_downloads_document_the_types_they_serve(spec: dict[str, Any]) -> None:
    binary = spec["paths"]["/fhir/Binary/{document_id}"]["get"]["responses"]
    assert set(binary["200"]["content"]) == {*SERVED_TYPES, FHIR_JSON}
    assert {"image/jpeg", "text/plain", "text/xml"} <= set(binary["200"]["content"])
    content = spec["paths"]["/api/v1/me/documents/{document_id}/content"]["get"]["responses"]
    assert set(content["200"]["content"]) == SERVED_TYPES
    summary = spec["paths"]["/api/v1/me/summary.pdf"]["get"]["responses"]
    assert list(summary["200"]["content"]) == ["application/pdf"]
