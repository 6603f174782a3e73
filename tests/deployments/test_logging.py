"""Structured logs: LOG_FORMAT=json gives one object per line with the request's context."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.deployments.conftest import grid_accepts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines():
    """Every log line of the test, formatted as settings.LOGGING's `json` formatter does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    options = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    from pythonjsonlogger.json import JsonFormatter

    handler.setFormatter(JsonFormatter(**options))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_one_access_line_per_request_with_the_callers_context(acme_user, flow, json_lines):
    response = acme_user.get(f"/api/v1/flows/{flow.public_id}", HTTP_X_REQUEST_ID="req-1")
    assert response.status_code == 200
    (access,) = [line for line in json_lines() if line["logger"] == "scaiflow.access"]
    assert access["level"] == "INFO"
    assert access["request_id"] == "req-1"
    assert (access["method"], access["route"], access["status"]) == (
        "GET", "api/v1/flows/<id:flow_id>", 200,
    )  # fmt: skip
    assert access["path"] == f"/api/v1/flows/{flow.public_id}"
    assert isinstance(access["duration_ms"], float)
    assert (access["tenant"], access["actor"], access["flow_id"]) == (
        "acme", "scaikey:alice", flow.public_id,
    )  # fmt: skip
    assert access["time"].endswith("+00:00")
    assert access["message"].startswith("GET /api/v1/flows/")


def test_a_deploys_lines_carry_the_deployment(acme_user, flow, upstream, json_lines):
    grid_accepts(upstream)
    body = acme_user.post(f"/api/v1/flows/{flow.public_id}/deploy", {}, format="json").json()
    (access,) = [line for line in json_lines() if line["logger"] == "scaiflow.access"]
    assert access["deployment_id"] == body["id"]
    assert access["flow_id"] == flow.public_id
    assert access["status"] == 201


def test_an_unknown_path_and_an_anonymous_caller(client, json_lines):
    client.get("/nowhere")
    (access,) = json_lines()
    assert (access["route"], access["status"]) == ("unmatched", 404)
    assert "tenant" not in access and "actor" not in access


def test_the_context_ends_with_the_request(acme_user, flow, json_lines):
    acme_user.get(f"/api/v1/flows/{flow.public_id}")
    logging.getLogger("scaiflow.test").info("after the request")
    last = json_lines()[-1]
    assert last["message"] == "after the request"
    assert last["request_id"] == "-"
    assert "tenant" not in last and "flow_id" not in last


def run_with(log_format: str) -> subprocess.CompletedProcess:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('scaiflow.test').warning('hello %s', 'there')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_FORMAT": log_format}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_log_format_json_writes_one_object_per_line():
    result = run_with("json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "message", "request_id")} == {
        "level": "WARNING", "logger": "scaiflow.test", "message": "hello there", "request_id": "-",
    }  # fmt: skip
    assert "time" in record


def test_plain_text_is_the_default():
    result = run_with("plain")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("WARNING scaiflow.test [-] hello there")


def test_an_unknown_log_format_is_refused():
    result = run_with("xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json'" in result.stderr
