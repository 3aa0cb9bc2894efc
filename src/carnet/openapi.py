"""`/openapi.json` says what happens: the generated document, completed in one place from what
each route declares (issue 15).

FastAPI describes what it sees: a 422 for invalid input, which Carnet answers with 400 (`http`),
no error body, and FHIR answers without a schema. Here every operation of the JSON API
and the FHIR API gets, from its access rule, path, method and front door:

- 400 (bad input, an unhonoured `X-Carnet-Space`) and 503 (the database does not answer) always;
  401 and 403 when the rule asks for a bearer token; 404 when the path names something; 409 on
  writes (a concurrent change won: `http` answers IntegrityError so); 413 and 415 on FHIR bodies,
  and 422 on FHIR writes (a business rule refuses the resource: the only 422 Carnet answers);
- the error body the handlers of `http` really send: `{"error": {...}}`, or an OperationOutcome
  under `/fhir` (`http.answers_fhir`), in `application/fhir+json`;
- for FHIR answers, the resource they carry: a Bundle for searches, transactions and
  `$everything`, the resource of the path for reads, creates and updates, the
  CapabilityStatement for `/metadata`; and the FHIR request bodies the routes read by hand.

What a route declares itself (`responses=`) stays; only the error bodies are made uniform.
`tests/core/test_openapi_conformance.py` calls every operation against this document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from carnet.access.routes import ACCESS_RULE_MARK, takes_space_header
from carnet.http import FHIR_JSON, answers_fhir

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR = "#/components/schemas/Error"
OUTCOME = "#/components/schemas/OperationOutcome"
OAUTH_ERROR = "#/components/schemas/OAuthError"
OAUTH = "/oauth/"  # Authlib's endpoints answer RFC 6749 errors; the edge's own errors stay JSON
BEARER = "bearer"

_REASONS = {
    400: "The request is not valid (each problem with its location).",
    401: "No valid bearer token.",
    403: "This account, app or relation may not do this.",
    404: "Nothing by this identifier is visible to the caller.",
    409: "The change conflicts with the record's state or with a change saved meanwhile.",
    413: "The body is larger than accepted here.",
    415: "The body's Content-Type is not accepted here.",
    422: "The resource is well formed but a rule refuses it (the issue names the element).",
    503: "The database does not answer; try again later.",
}

# The FHIR path shapes under /fhir: what their answer (and body, when they read one) carries.
_FHIR_TYPE = r"(?P<type>[A-Z][A-Za-z]+)"
_FHIR_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/fhir$"), "transaction"),
    (re.compile(r"^/fhir/metadata$"), "capabilities"),
    (re.compile(rf"^/fhir/{_FHIR_TYPE}$"), "type"),
    (re.compile(rf"^/fhir/{_FHIR_TYPE}/_search$"), "search"),
    (re.compile(rf"^/fhir/{_FHIR_TYPE}/\{{[^/]+\}}/\$everything$"), "search"),
    (re.compile(rf"^/fhir/{_FHIR_TYPE}/\{{[^/]+\}}$"), "instance"),
)


def install(app: FastAPI) -> None:
    """Serve the completed document at `app.openapi_url` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            complete(document, app.routes)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Complete FastAPI's `document` (in place) from the app's `routes`."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_shared_schemas())
    components["securitySchemes"] = {BEARER: {"type": "http", "scheme": "bearer"}}
    paths = document.get("paths", {})
    for path, methods, dependant in _documented(routes):
        for method in sorted(methods):
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                _complete_operation(operation, path, method, dependant, schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _documented(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, set[str], Any]]:
    """(path template, methods, effective dependant) of every API route in the document, routers
    included (as `access.routes.declared_rules` reads them)."""
    for context in iter_route_contexts(routes):
        original = context.original_route
        if not isinstance(original, APIRoute) or not original.include_in_schema:
            continue
        dependant = getattr(context, "dependant", None) or original.dependant
        yield str(context.path_format), set(context.methods or ()), dependant


def _complete_operation(
    operation: dict[str, Any], path: str, method: str, dependant: Any, schemas: dict[str, Any]
) -> None:
    fhir = answers_fhir(path)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    statuses = {400, 503}
    if _needs_token(dependant):
        statuses |= {401, 403}
        operation["security"] = [{BEARER: []}]
    if "{" in path or takes_space_header(dependant):
        statuses.add(404)  # a path naming something, or X-Carnet-Space naming a space
    if path.startswith(OAUTH):
        statuses.add(401)  # client authentication failed (RFC 6749 invalid_client)
    if method in WRITES:
        statuses.add(409)
        if fhir and method in ("POST", "PUT", "PATCH"):
            statuses |= {413, 415}
            if not path.endswith("/_search"):
                statuses.add(422)  # a business rule refuses the resource (at its element)
    for code in statuses:
        responses.setdefault(str(code), {"description": _REASONS[code]})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = _error_content(path)
    operation["responses"] = dict(sorted(responses.items()))
    if fhir:
        _describe_fhir(operation, path, method, schemas)


def _needs_token(dependant: Any) -> bool:
    """Whether the route's one access rule asks for a bearer token (`access.routes`)."""
    for dependency in dependant.dependencies:
        rule = getattr(dependency.call, ACCESS_RULE_MARK, None)
        if rule is not None:
            return str(rule).startswith("authenticated")
    return False


def _error_content(path: str) -> dict[str, Any]:
    """The error body `http` (or Authlib, under /oauth/) sends on `path`."""
    if answers_fhir(path):
        return {FHIR_JSON: {"schema": {"$ref": OUTCOME}}}
    if path.startswith(OAUTH):
        schema = {"anyOf": [{"$ref": OAUTH_ERROR}, {"$ref": ERROR}]}
        return {"application/json": {"schema": schema}}
    return {"application/json": {"schema": {"$ref": ERROR}}}


def _describe_fhir(
    operation: dict[str, Any], path: str, method: str, schemas: dict[str, Any]
) -> None:
    """The resource a FHIR answer carries, and the body a FHIR write reads."""
    shape, resource_type = _fhir_shape(path)
    if shape is None:
        return
    answer, body = _fhir_answer_and_body(shape, resource_type, method)
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if status.startswith("2") and FHIR_JSON in content and answer is not None:
            content[FHIR_JSON] = {"schema": fhir_schema(answer, schemas)}
            content.pop("application/json", None)
    if shape == "search" and method == "POST":
        form = {"type": "object", "additionalProperties": {"type": "string"}}
        content = {"application/x-www-form-urlencoded": {"schema": form}}
        operation.setdefault("requestBody", {"required": True, "content": content})
    if body is not None and "requestBody" not in operation:
        operation["requestBody"] = {
            "required": True,
            "content": {
                FHIR_JSON: {"schema": fhir_schema(body, schemas)},
                "application/json": {"schema": fhir_schema(body, schemas)},
            },
        }


def _fhir_shape(path: str) -> tuple[str | None, str]:
    for pattern, shape in _FHIR_SHAPES:
        found = pattern.match(path)
        if found is not None:
            return shape, found.groupdict().get("type") or ""
    return None, ""


def _fhir_answer_and_body(
    shape: str, resource_type: str, method: str
) -> tuple[str | None, str | None]:
    """(resource type answered, resource type read) for one FHIR operation."""
    if shape == "capabilities":
        return "CapabilityStatement", None
    if shape == "transaction":
        return "Bundle", "Bundle"
    if shape == "search" or (shape == "type" and method == "GET"):
        return "Bundle", None
    if method in ("POST", "PUT"):
        return resource_type, resource_type
    return resource_type, None


def fhir_schema(resource_type: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """A reference to the component of `resource_type`, added to `schemas` when missing."""
    name = f"Fhir{resource_type}"
    schemas.setdefault(name, _resource(resource_type))
    return {"$ref": f"#/components/schemas/{name}"}


def _resource(resource_type: str | None, **properties: Any) -> dict[str, Any]:
    kind: dict[str, Any] = {"type": "string"}
    if resource_type is not None:
        kind["const"] = resource_type
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": kind, "id": {"type": "string"}, **properties},
        "description": f"A FHIR R4 {resource_type or 'resource'} (application/fhir+json).",
    }


def _shared_schemas() -> dict[str, Any]:
    """The error bodies of `http` and the FHIR resource shapes the answers refer to."""
    issue = {
        "type": "object",
        "required": ["severity", "code"],
        "properties": {
            "severity": {"enum": ["fatal", "error", "warning", "information"]},
            "code": {"type": "string"},
            "details": {"type": "object"},
            "expression": {"type": "array", "items": {"type": "string"}},
        },
    }
    entry = {
        "type": "object",
        "properties": {
            "fullUrl": {"type": "string"},
            "resource": {"$ref": "#/components/schemas/FhirResource"},
            "search": {"type": "object"},
            "request": {"type": "object"},
            "response": {"type": "object"},
        },
    }
    error = {
        "type": "object",
        "required": ["code", "message", "request_id"],
        "properties": {
            "code": {"type": "string", "description": "Stable machine code."},
            "message": {"type": "string", "description": "Readable; never health data."},
            "request_id": {"type": "string"},
            "field": {"type": "string"},
            "issues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    bundle = _resource(
        "Bundle",
        type={"type": "string"},
        total={"type": "integer", "minimum": 0},
        link={"type": "array", "items": {"type": "object"}},
        entry={"type": "array", "items": entry},
    )
    bundle["required"] = ["resourceType", "type"]
    outcome = _resource(
        "OperationOutcome", issue={"type": "array", "minItems": 1, "items": issue}
    )
    outcome["required"] = ["resourceType", "issue"]
    found: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": error},
            "description": "A JSON API error (`carnet.http`).",
        },
        "OperationOutcome": outcome,
        "OAuthError": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "error_description": {"type": "string"},
            },
            "description": "An OAuth 2.0 error (RFC 6749 section 5.2).",
        },
        "FhirResource": _resource(None),
        "FhirBundle": bundle,
        "FhirOperationOutcome": outcome,
    }
    return found
