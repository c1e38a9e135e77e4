"""The OpenAPI document is a contract generated clients can build on: valid OpenAPI 3.1, every
`$ref` resolves, every operation documents the problems it can answer, the security scheme
follows the configured keys, and every example is valid against its own schema.

These walk the whole document, so an endpoint added later is held to the same rules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from app.api.openapi import METHODS

PROBLEM = "application/problem+json"
PROBES = {"/healthz", "/readyz"}


@pytest.fixture(params=["open", "keyed"])
def document(request: pytest.FixtureRequest, make_client: Callable[..., TestClient]) -> dict[str, Any]:
    keys = {"api_write_keys": ["w"], "api_read_keys": ["r"]} if request.param == "keyed" else {}
    response = make_client(**keys).get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert "#/components/schemas/EventIn" in found  # the body of POST /events
    for ref in found:
        resolve(document, ref)


def test_operation_ids_are_unique_names(document: dict[str, Any]) -> None:
    # Generated clients name their functions after them.
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert all(i.isidentifier() for i in ids), ids
    assert {"post_events", "user_recommendations", "put_item"} <= set(ids)


def test_every_operation_documents_its_problems(document: dict[str, Any]) -> None:
    keyed = "securitySchemes" in document.get("components", {})
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        expected = {"413", "503"}
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        if "{" in path:
            expected.add("404")
        if keyed and path not in PROBES:
            expected |= {"401", "403"}
        assert expected <= set(responses), (where, sorted(responses))
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM], (where, status)
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemDetails"}, (where, status)
            else:
                assert not status.startswith("4"), (where, status)


def test_security_follows_the_configured_keys(document: dict[str, Any]) -> None:
    schemes = document.get("components", {}).get("securitySchemes")
    for path, method, operation in operations(document):
        if schemes is None or path in PROBES:
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"APIKeyHeader": []}], (method, path)
    if schemes is not None:
        assert schemes == {
            "APIKeyHeader": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "A read or write key.",
            }
        }


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    # The schema at the root next to the document's components: its `#/components/...` resolve.
    return Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=FormatChecker()
    )


def examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for every example the document gives."""
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            yield f"components.schemas.{name}", {"$ref": f"#/components/schemas/{name}"}, example
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            for example in parameter["schema"].get("examples", []):
                yield f"{method} {path} {parameter['name']}", parameter["schema"], example
        for media in operation.get("requestBody", {}).get("content", {}).values():
            for name, example in media.get("examples", {}).items():
                yield f"{method} {path} body example {name}", media["schema"], example["value"]


def test_every_example_is_valid(document: dict[str, Any]) -> None:
    seen = 0
    for where, schema, example in examples(document):
        seen += 1
        errors = [e.message for e in _validator(document, schema).iter_errors(example)]
        assert not errors, (where, errors)
    assert seen >= 8


def test_an_example_that_breaks_its_schema_is_caught(document: dict[str, Any]) -> None:
    # The check above can fail: a boolean price is refused by the ItemFields schema.
    schema = {"$ref": "#/components/schemas/ItemFields"}
    assert list(_validator(document, schema).iter_errors({"price": False}))
    assert not list(_validator(document, schema).iter_errors({"price": 12}))
