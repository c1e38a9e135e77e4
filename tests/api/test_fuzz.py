"""Property-based fuzzing of every operation in /openapi.json (schemathesis): no 5xx, and every
response conforms to the documented schema. Bounded by FUZZ_EXAMPLES per operation."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

FUZZ_EXAMPLES = 30
# Schema-valid requests may still be refused (a rating without a value, a timestamp in the future):
# those rules live in validators, so positive-data acceptance is not among the checks.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(operation: Any) -> int:
    cases = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: schemathesis.Case) -> None:
        nonlocal cases
        cases += 1
        case.call_and_validate(checks=CHECKS)

    run()
    return cases


def test_no_server_errors_and_schema_conformance(client: TestClient) -> None:
    client.post("/events", json=[{"user_id": "u1", "item_id": "i1", "type": "purchase"}])
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    ran = {op.label: _fuzz(op) for op in (result.ok() for result in schema.get_all_operations())}
    print(f"fuzzed {sum(ran.values())} cases over {len(ran)} operations")
    assert len(ran) >= 15, sorted(ran)
    assert all(n > 0 for n in ran.values()), ran
