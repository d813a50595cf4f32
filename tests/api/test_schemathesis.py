"""Property-based test of the API from its own OpenAPI document: no request schemathesis can make
gets a 5xx, and every response has a documented status, content type and shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app("sqlite"))


@pytest.fixture(autouse=True)
def _loaded(seed_sqlite: str) -> None:
    """The app opens SQLite lazily, at the first request: after the seed is loaded."""


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
