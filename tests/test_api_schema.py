"""Schemathesis against the API's own OpenAPI document: no input gives a 5xx.

Every operation gets examples that fit its schema and examples that do not (deterministic:
hypothesis is derandomised), each sent with a federal key and with a mayor's key; every answer
must be below 500, and every refusal a problem+json document.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from api_helpers import bearer, make_keys, serving_copy
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from geoalert.settings import Settings

EXAMPLES = 40
"""Per operation (each sent with both keys)."""


@pytest.fixture(scope="module")
def served(sample_world: Path, tmp_path_factory: pytest.TempPathFactory):
    world = serving_copy(sample_world, tmp_path_factory.mktemp("schema") / "world")
    keys = make_keys(world)
    settings_ = Settings(data_dir=world, api_rate_per_s=10_000, api_rate_burst=10_000)
    return create_app(settings_), keys


@pytest.fixture(scope="module")
def api_schema(served):
    app, _ = served
    # The coverage phase enumerates thousands of boundary bodies for the zone schema; the
    # fuzzing phase (schema-fitting and schema-breaking examples) keeps the run bounded.
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gives_a_server_error(case, served):
    _, keys = served
    for key in ("federal", "mayor"):
        started = time.perf_counter()
        response = case.call_and_validate(headers=bearer(keys[key]), checks=[not_a_server_error])
        assert time.perf_counter() - started < 5.0, "every answer comes within a few seconds"
        if response.status_code >= 400:
            assert response.headers["content-type"] == ["application/problem+json"]
            body = response.json()
            assert body["status"] == response.status_code and body["title"] and body["detail"]
