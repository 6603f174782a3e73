"""OpenTelemetry: the request, each deploy step and each upstream call are spans; the upstream
call carries `traceparent` beside `X-Request-ID`. Off (and not imported) without an endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scaiflow.observability import tracing
from tests.deployments.conftest import CORES, calls, grid_accepts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans(settings):
    """Tracing on, spans kept in memory (the test's own provider, not the global one)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings.MIDDLEWARE = list(settings.MIDDLEWARE)  # the instrumentation inserts its own
    tracing.instrument(provider)
    yield exporter.get_finished_spans
    tracing.uninstrument()


def test_a_deploy_is_one_trace_of_request_steps_and_upstream_calls(
    acme_user, flow, upstream, spans
):
    grid_accepts(upstream)
    response = acme_user.post(
        f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json", HTTP_X_REQUEST_ID="req-7"
    )
    assert response.status_code == 201
    deployment_id = response.json()["id"]
    finished = spans()
    by_name = {span.name: span for span in finished}
    server = next(s for s in finished if s.kind.name == "SERVER")
    assert "deploy" in server.name
    steps = [s for s in finished if s.name.startswith("deploy ")]
    assert [s.name for s in steps] == ["deploy read", "deploy compile", "deploy credentials",
                                       "deploy core"]  # fmt: skip
    assert all(s.parent.span_id == server.context.span_id for s in steps)
    assert all(s.attributes["scaiflow.deployment_id"] == deployment_id for s in steps)
    client = next(s for s in finished if s.kind.name == "CLIENT")
    assert client.parent.span_id == by_name["deploy core"].context.span_id
    assert {s.context.trace_id for s in finished} == {server.context.trace_id}

    (create,) = calls(upstream, "POST", CORES)
    headers = create.request.headers
    assert headers["X-Request-ID"] == "req-7"
    version, trace_id, span_id, _ = headers["traceparent"].split("-")
    assert (version, int(trace_id, 16)) == ("00", server.context.trace_id)
    assert int(span_id, 16) == client.context.span_id


def test_a_failed_step_is_a_failed_span(acme_user, flow, upstream, spans):
    upstream.post(CORES, status=500)
    response = acme_user.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json")
    assert response.status_code == 502
    (core,) = [s for s in spans() if s.name == "deploy core"]
    assert core.status.status_code.name == "ERROR"


def test_off_without_an_endpoint_and_nothing_imported():
    code = (
        "import sys, django; django.setup(); import scaiflow.urls, deployments.pipeline; "
        "from scaiflow.observability import tracing; "
        "print(tracing._tracer, sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None []"


def test_on_with_an_endpoint():
    code = (
        "import django; django.setup(); from opentelemetry import trace; "
        "from scaiflow.observability import tracing; from django.conf import settings; "
        "print(tracing._tracer is not None, trace.get_tracer_provider().resource.attributes"
        "['service.name'], 'opentelemetry' in settings.MIDDLEWARE[0])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_SERVICE_NAME": "scaiflow-test",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True scaiflow-test True"
