"""The REST client of the `scaiflow` command: bounded retries honouring Retry-After, which
requests may be sent again, where a next link may lead, the exit status of each error, and a
token that is never shown."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import responses

from scaiflow.cli.client import Client, redacted
from scaiflow.cli.errors import ClientError
from scaiflow.cli.exits import (
    EXIT_AUTH,
    EXIT_COMPILE,
    EXIT_CONFLICT,
    EXIT_UNAVAILABLE,
    EXIT_UPSTREAM,
    EXIT_USAGE,
    exit_status_of,
)
from tests.cli.fakeserver import Reply

BASE = "https://scaiflow.test"
FLOW = f"{BASE}/api/v1/flows/flw_1"
TOKEN = "secret-token-value"


def error(code: str, **extra) -> dict:
    return {"detail": {"error": code, "message": f"{code} happened", **extra}}


def flow(flow_id: str = "flw_1", **extra) -> dict:
    body = {"id": flow_id, "name": "Echo", "version": 1, "content_sha256": "ab", "content": {}}
    return {**body, **extra}


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(server, slept) -> Client:
    """A client of the loopback fake ScaiFlow: urllib3's retries run for real."""
    return Client(server.url, TOKEN, retries=3, max_wait=60, sleep=slept.append)


def test_a_503_is_retried_after_its_retry_after(server, client, slept):
    server.on(
        "GET",
        "/api/v1/flows/flw_1",
        Reply(503, error("database_unavailable"), {"Retry-After": "7"}),
        Reply(200, flow()),
    )
    assert client.flow("flw_1").body == flow()
    assert slept == [7]
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_retry_after_given_as_an_http_date_is_honoured(server, client, slept):
    when = formatdate(time.time() + 30, usegmt=True)
    server.on(
        "GET",
        "/api/v1/flows/flw_1",
        Reply(429, error("throttled"), {"Retry-After": when}),
        Reply(200, flow()),
    )
    assert client.flow("flw_1").status == 200
    assert len(slept) == 1 and 28 <= slept[0] <= 30


def test_without_retry_after_the_backoff_doubles_then_gives_up(server, client, slept):
    server.on("GET", "/api/v1/flows/flw_1", Reply(429, error("throttled")))
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert slept == [1, 2, 4]
    assert len(server.seen) == 4
    assert raised.value.exit_status == EXIT_UNAVAILABLE


def test_a_refused_post_is_not_sent_again(server, client, slept):
    server.on("POST", "/api/v1/flows/flw_1/deploy", Reply(503, error("database_unavailable")))
    with pytest.raises(ClientError) as raised:
        client.deploy("flw_1")
    assert (len(server.seen), slept, raised.value.exit_status) == (1, [], EXIT_UNAVAILABLE)


def test_a_wait_past_the_budget_is_not_waited(server, client, slept):
    server.on("GET", "/api/v1/flows/flw_1", Reply(429, error("throttled"), {"Retry-After": "61"}))
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert slept == [] and len(server.seen) == 1
    assert raised.value.detail["retry_after"] == 61


def test_other_errors_are_not_retried(server, client, slept):
    server.on("GET", "/api/v1/flows/flw_1", Reply(502, error("scaicore_create_failed")))
    with pytest.raises(ClientError) as raised:
        client.flow("flw_1")
    assert (len(server.seen), slept, raised.value.exit_status) == (1, [], EXIT_UPSTREAM)


def test_a_post_that_may_have_arrived_is_not_sent_again(server, slept):
    client = Client(server.url, TOKEN, sleep=slept.append, timeout=(2, 0.2))
    server.on("POST", "/api/v1/flows/flw_1/deploy", Reply(201, {}, delay=0.5))
    with pytest.raises(ClientError) as raised:
        client.deploy("flw_1")
    assert (len(server.seen), slept) == (1, [])
    assert (raised.value.code, raised.value.exit_status) == ("unreachable", EXIT_UNAVAILABLE)


def test_a_get_that_timed_out_is_sent_again(server, slept):
    client = Client(server.url, TOKEN, sleep=slept.append, timeout=(2, 0.2))
    server.on("GET", "/api/v1/flows/flw_1", Reply(200, flow(), delay=0.5), Reply(200, flow()))
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
def test_an_answer_that_is_not_scaiflows_is_named_so():
    responses.get(FLOW, status=404, body="<html>nginx</html>")
    with pytest.raises(ClientError) as raised:
        Client(BASE, TOKEN).flow("flw_1")
    assert (raised.value.code, raised.value.exit_status) == ("invalid_answer", EXIT_USAGE)


@responses.activate
def test_pages_are_followed():
    first = f"{BASE}/api/v1/flows?page_size=200"
    responses.get(first, json={"results": [flow("flw_a")], "next": f"{first}&page=2"})
    responses.get(f"{first}&page=2", json={"results": [flow("flw_b")], "next": None})
    assert [item["id"] for item in Client(BASE, TOKEN).flows()] == ["flw_a", "flw_b"]


@responses.activate
@pytest.mark.parametrize(
    "link",
    [
        "http://evil.example/api/v1/flows?page_size=200&page=2",
        "https://evil.example:443/api/v1/flows?page_size=200&page=2",
        "https://scaiflow.test:8443/api/v1/flows?page_size=200&page=2",
        "https://user:pw@evil.example/api/v1/flows?page_size=200&page=2",
        "//evil.example/api/v1/flows?page_size=200&page=2",
    ],
)
def test_a_next_link_elsewhere_never_gets_the_token(link):
    first = f"{BASE}/api/v1/flows?page_size=200"
    responses.get(first, json={"results": [flow("flw_a")], "next": link})
    responses.get(f"{first}&page=2", json={"results": [flow("flw_b")], "next": None})
    assert [item["id"] for item in Client(BASE, TOKEN).flows()] == ["flw_a", "flw_b"]
    assert [call.request.url for call in responses.calls] == [first, f"{first}&page=2"]


@responses.activate
def test_a_next_link_never_downgrades_https_to_http():
    first = f"{BASE}/api/v1/flows?page_size=200"
    downgraded = "http://scaiflow.test/api/v1/flows?page_size=200&page=2"
    responses.get(first, json={"results": [], "next": downgraded})
    responses.get(f"{first}&page=2", json={"results": [flow("flw_b")], "next": None})
    assert [item["id"] for item in Client(BASE, TOKEN).flows()] == ["flw_b"]
    assert all(call.request.url.startswith("https://") for call in responses.calls)


@responses.activate
def test_next_links_going_round_in_circles_stop():
    first = f"{BASE}/api/v1/flows?page_size=200"
    responses.get(first, json={"results": [flow("flw_a")], "next": first})
    with pytest.raises(ClientError) as raised:
        list(Client(BASE, TOKEN).flows())
    assert (raised.value.code, raised.value.exit_status) == ("invalid_answer", EXIT_UNAVAILABLE)
    assert len(responses.calls) == 1


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


@responses.activate
def test_the_apis_own_url_is_taken_as_the_base_url():
    responses.get(FLOW, json=flow())
    assert Client(f"{BASE}/api/v1/", TOKEN).flow("flw_1").body == flow()


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
