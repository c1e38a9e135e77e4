"""The OpenAPI 3.1 document, completed from what the app really does.

FastAPI writes the paths and the success responses from the routes. This module adds what it
cannot know and holds the document to it, for every route present and future:

- the problem responses (`application/problem+json`, schema `ProblemDetails`) each operation can
  give: 401/403 where a key is checked, 404 where the path names a resource, 413 and 503 on
  every operation (the body limit and the time limit apply to all), 422 wherever there is a
  parameter or a body to get wrong;
- the security scheme only when keys are configured, so a generated client asks for a key
  exactly when the server wants one;
- the models a hand-written request body names (its `$defs`) as components, so every `$ref`
  resolves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.api.errors import PROBLEM, PROBLEM_DESCRIPTIONS, ProblemDetails

SCHEMAS = "#/components/schemas/"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# FastAPI's own 422 body, replaced here by the problem details every other error uses.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON schemas of `models` keyed by name, with `$ref`s into the document's components: put
    them under `$defs` of a hand-written body schema and they become components."""
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def install_openapi(app: FastAPI, *, auth_enabled: bool) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, auth_enabled=auth_enabled)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI, *, auth_enabled: bool) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(component_schemas(ProblemDetails))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                _hoist_body_defs(operation, schemas)
                _complete(path, operation, auth_enabled=auth_enabled)
    if not auth_enabled:
        components.pop("securitySchemes", None)
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    return document


def _hoist_body_defs(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schemas.update(media.get("schema", {}).pop("$defs", {}))


def _complete(path: str, operation: dict[str, Any], *, auth_enabled: bool) -> None:
    responses = operation.setdefault("responses", {})
    keyed = bool(operation.get("security"))
    if not auth_enabled:
        operation.pop("security", None)
    statuses = {413, 503}
    if auth_enabled and keyed:
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    statuses |= {int(code) for code in responses if str(code).startswith("4")}
    for status in sorted(statuses):
        declared = responses.get(str(status), {})
        responses[str(status)] = {
            "description": _own_description(declared) or PROBLEM_DESCRIPTIONS.get(status, "Problem"),
            "content": {PROBLEM: {"schema": {"$ref": SCHEMAS + "ProblemDetails"}}},
        }


def _own_description(response: dict[str, Any]) -> str | None:
    description = response.get("description")
    # FastAPI's placeholders say nothing a client can use.
    return None if description in (None, "Validation Error", "Successful Response") else description
