"""The REST subcommands against a loopback fake ScaiFlow: usage refused before any request,
redirects reported and never followed, and no traceback whatever happens."""

from __future__ import annotations

import json

import pytest

from scaiflow.cli import remote
from tests.cli.conftest import TOKEN
from tests.cli.fakeserver import Reply

DEPLOYMENTS = {"results": [], "next": None}


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_status_limit_below_one_is_a_usage_error(server, run, limit):
    ran = run("status", "--limit", limit)
    assert ran.code == 2
    assert ran.err.splitlines() == [
        f"scaiflow: status: invalid_request: --limit must be a whole number from 1, not {limit}."
    ]
    assert server.seen == []


def test_status_limit_is_the_page_size(server, run):
    server.on("GET", "/api/v1/deployments", Reply(200, DEPLOYMENTS))
    assert run("status", "--limit", "3").code == 0
    assert server.seen[0].path == "/api/v1/deployments?page_size=3"


def test_a_redirect_to_https_is_an_error_naming_it(server, run):
    host = server.url.removeprefix("http://")
    location = f"https://{host}/api/v1/deployments?page_size=10"
    server.on("GET", "/api/v1/deployments", Reply(301, b"", {"Location": location}))

    ran = run("status")

    assert ran.code == 6
    message, fix = ran.err.splitlines()
    assert message.startswith("scaiflow: status: redirected: ")
    assert location in message
    assert fix == f"  fix: Use https: SCAIFLOW_URL=https://{host}"
    assert len(server.seen) == 1  # not followed


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 300, 304])
def test_any_3xx_is_an_error_never_followed(server, run, tmp_path, status):
    (tmp_path / "work" / "echo.flow.json").write_text(json.dumps({"name": "Echo"}))
    elsewhere = "http://127.0.0.1:9/steal"
    server.respond = lambda method, path: Reply(status, b"", {"Location": elsewhere})

    ran = run("push", "--json", "echo.flow.json")

    assert ran.code == 6
    error = json.loads(ran.out)["results"][0]["error"]
    assert (error["error"], error["status"], error["location"]) == ("redirected", status, elsewhere)
    assert len(server.seen) == 1


def test_no_traceback_reaches_the_user(run, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError(TOKEN)

    monkeypatch.setattr(remote, "status", broken)

    ran = run("status")

    assert ran.code == 6
    assert ran.err.splitlines() == [
        "scaiflow: status: internal_error: stopped by an unexpected KeyError: an answer the "
        "command does not understand, or a bug of the command. Nothing more was done."
    ]
    assert "Traceback" not in ran.err and TOKEN not in ran.err + ran.out
    as_json = run("status", "--json")
    assert (as_json.code, json.loads(as_json.out)["error"]["error"]) == (6, "internal_error")


def test_a_token_the_server_echoes_back_is_not_printed(server, run):
    echo = {"detail": {"error": "not_authenticated", "message": f"Bearer {TOKEN} is refused"}}
    server.on("GET", "/api/v1/deployments", Reply(401, echo))
    ran = run("status")
    assert ran.code == 4
    assert TOKEN not in ran.err and "Bearer [token] is refused" in ran.err


def test_control_characters_from_the_server_are_escaped(server, run):
    forged = {"detail": {"error": "not_found", "message": "gone\n\x1b[2Kscaiflow: all good"}}
    server.on("GET", "/api/v1/deployments", Reply(404, forged))
    ran = run("status")
    assert ran.err.splitlines()[0] == (
        "scaiflow: status: not_found: gone\\x0a\\x1b[2Kscaiflow: all good"
    )
