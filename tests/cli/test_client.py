"""The REST client of the `scaiflow` command: bounded retries honouring Retry-After, which
requests may be sent again, the exit status of each error, and a token that is never shown."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
import responses

from scaiflow.cli.client import (
    EXIT_AUTH,
    EXIT_COMPILE,
    EXIT_CONFLICT,
    EXIT_UNAVAILABLE,
    EXIT_UPSTREAM,
    EXIT_USAGE,
    Client,
    ClientError,
    exit_status_of,
    redacted,
)

BASE = "https://scaiflow.test"
FLOW = f"{BASE}/api/v1/flows/flw_1"
TOKEN = "secret-token-value"


def error(code: str, **extra) -> dict:
    return {"detail": {"error": code, "message": f"{code} happened", **extra}}


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(slept) -> Client:
    return Client(BASE, TOKEN, retries=3, max_wait=60, sleep=slept.append)


@responses.activate
def test_a_503_is_retried_after_its_retry_after(client, slept):
    responses.get(
        FLOW, status=503, json=error("database_unavailable"), headers={"Retry-After": "7"}
    )
    responses.get(FLOW, json={"id": "flw_1"})
    assert client.flow("flw_1").body == {"id": "flw_1"}
    assert slept == [7]
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_without_retry_after_the_backoff_doubles_then_gives_up(client, slept):
    responses.post(f"{FLOW}/deploy", status=429, json=error("throttled"))
    with pytest.raises(ClientError) as raised:
        client.deploy("flw_1")
    assert slept == [1, 2, 4]
    assert len(responses.calls) == 4
    assert raised.value.exit_status == EXIT_UNAVAILABLE


@responses.activate
def test_a_wait_past_the_budget_is_not_waited(client, slept):
    responses.get(FLOW, status=429, json=error("throttled"), headers={"Retry-After": "61"})
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert slept == [] and len(responses.calls) == 1
    assert raised.value.detail["retry_after"] == 61


@responses.activate
def test_other_errors_are_not_retried(client, slept):
    responses.get(FLOW, status=502, json=error("scaicore_create_failed"))
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert (len(responses.calls), slept, raised.value.exit_status) == (1, [], EXIT_UPSTREAM)


@responses.activate
def test_a_post_that_may_have_arrived_is_not_sent_again(client, slept):
    responses.post(f"{FLOW}/deploy", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ClientError) as raised:
        client.deploy("flw_1")
    assert (len(responses.calls), slept) == (1, [])
    assert (raised.value.code, raised.value.exit_status) == ("unreachable", EXIT_UNAVAILABLE)


@responses.activate
def test_a_get_that_timed_out_is_sent_again(client, slept):
    responses.get(FLOW, body=requests.ReadTimeout("read timed out"))
    responses.get(FLOW, json={"id": "flw_1"})
    assert client.flow("flw_1").status == 200
    assert slept == [1]


def test_a_connection_never_made_is_retried_even_for_a_post(slept):
    client = Client("http://127.0.0.1:9", TOKEN, retries=2, sleep=slept.append)
    with pytest.raises(ClientError) as raised:
        client.flow_create(name="x", content={})
    assert slept == [1, 2]
    assert raised.value.code == "unreachable"
    assert TOKEN not in str(raised.value.detail)


@responses.activate
def test_an_answer_that_is_not_scaiflows_is_named_so(client):
    responses.get(FLOW, status=404, body="<html>nginx</html>")
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert (raised.value.code, raised.value.exit_status) == ("invalid_answer", EXIT_USAGE)


@responses.activate
def test_pages_are_followed(client):
    first = f"{BASE}/api/v1/flows?page_size=200"
    responses.get(first, json={"results": [{"id": "a"}], "next": f"{first}&page=2"})
    responses.get(f"{first}&page=2", json={"results": [{"id": "b"}], "next": None})
    assert [flow["id"] for flow in client.flows()] == ["a", "b"]


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "compile_error", EXIT_COMPILE),
        (413, "flow_too_large", EXIT_COMPILE),
        (400, "invalid_request", EXIT_USAGE),
        (404, "not_found", EXIT_USAGE),
        (422, "idempotency_key_reused", EXIT_USAGE),
        (409, "deploy_in_progress", EXIT_CONFLICT),
        (412, "version_conflict", EXIT_CONFLICT),
        (401, "not_authenticated", EXIT_AUTH),
        (403, "permission_denied", EXIT_AUTH),
        (412, "missing_scaigrid_credentials", EXIT_AUTH),
        (502, "scaiqueue_auth", EXIT_UPSTREAM),
        (502, "scaivault_unavailable", EXIT_UPSTREAM),
        (503, "flow_storage_unavailable", EXIT_UNAVAILABLE),
        (429, "throttled", EXIT_UNAVAILABLE),
        (500, "internal_error", EXIT_UNAVAILABLE),
        (None, "unreachable", EXIT_UNAVAILABLE),
    ],
)
def test_exit_statuses(status, code, expected):
    assert exit_status_of(status, code) == expected


def test_the_token_is_not_in_the_clients_repr_and_urls_lose_their_password():
    assert TOKEN not in repr(Client(BASE, TOKEN))
    assert redacted("https://ci:hunter2@scaiflow.test:8443/x") == "https://scaiflow.test:8443/x"
    assert redacted(BASE) == BASE


def test_the_command_needs_no_django():
    code = (
        "import sys, scaiflow.cli.main, scaiflow.cli.diff; "
        "sys.exit(any(m.split('.')[0] in ('django', 'rest_framework') for m in sys.modules))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


@responses.activate
def test_the_apis_own_url_is_taken_as_the_base_url(slept):
    responses.get(FLOW, json={"id": "flw_1"})
    assert Client(f"{BASE}/api/v1/", TOKEN).flow("flw_1").body == {"id": "flw_1"}


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "flw_1", "--tokn", TOKEN],
        ["status", "flw_1", f"--tokn={TOKEN}"],
        ["status", "flw_1", "--tok", TOKEN],  # no abbreviations: --tok is not --token
        ["status", "flw_1", "--token", TOKEN, "--limit", "x"],
    ],
)
def test_a_usage_error_never_repeats_the_token(argv, capsys):
    from scaiflow.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and TOKEN not in err
