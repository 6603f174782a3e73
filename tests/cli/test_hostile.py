"""The command against a hostile server on loopback: every subcommand, fed answers of the
wrong types, with fields missing, huge, not JSON, with ids made of `/`, `..`, NUL, absolute
paths or 10,000 characters, and redirects. Whatever it is told, the command ends with a
documented exit status, prints no traceback and never the token, and writes no file outside
`--dir` (nor anywhere but the lock files beside the files it pushes).

Deterministic: a fixed list of answers (some drawn with a fixed seed), each run against the
same commands; a few seconds in all.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from scaiflow.cli.exits import DOCUMENTED
from tests.cli.conftest import TOKEN
from tests.cli.fakeserver import Reply

SAFE_ID = "flw_k3v9x0q2m7c1r8t5z4wa"
CONTENT = {"name": "Echo", "nodes": [], "edges": []}
FLOW = {"id": SAFE_ID, "name": "Echo", "version": 2, "content_sha256": "00", "content": CONTENT}
DEPLOYMENT = {
    "id": "dep_1",
    "flow_id": SAFE_ID,
    "flow_version": 2,
    "status": "succeeded",
    "core_id": "core_1",
    "core_action": "created",
    "published_slug": None,
    "created_at": "2026-01-01T00:00:00Z",
    "error": None,
}
ABSOLUTE = "/tmp/scaiflow-hostile-absolute"
HOSTILE_VALUES = [
    "../../pwned",
    "../../../../../../pwned",
    ABSOLUTE,
    "a/b",
    "..",
    ".",
    "x\x00y",
    "x" * 10_000,
    "flw_ok\n",
    "\x1b[2J",
    None,
    7,
    -1,
    True,
    1.5,
    [],
    {},
    [SAFE_ID],
]
MISSING = object()


def mutated(base: dict, fields: tuple[str, ...], *, every_value_of: str) -> list[dict]:
    """`base` with one field hostile (or missing): every value for `every_value_of`, the field
    that names files and URLs; three values, drawn with a fixed seed, for each other field."""
    draw = random.Random(30)
    cases = []
    for name in fields:
        values = [*HOSTILE_VALUES, MISSING]
        if name != every_value_of:
            values = draw.sample(values, 3)
        for value in values:
            body = {key: item for key, item in base.items() if key != name}
            if value is not MISSING:
                body[name] = value
            cases.append(body)
    return cases


def error(code: object, **extra) -> dict:
    return {"detail": {"error": code, "message": "refused", **extra}}


RAW = [
    Reply(200, b"not json"),
    Reply(200, b""),
    Reply(200, b"[" * 100_000),
    Reply(200, b'{"id": NaN}'),
    Reply(200, b"\xff\xfe\x00garbage"),
    Reply(200, []),
    Reply(200, "a string"),
    Reply(200, 7),
    Reply(200, b"x" * 3_000_000),
    Reply(200, {"results": "nope", "next": None}),
    Reply(200, {"results": [], "next": 7}),
    Reply(200, {"results": [7, "x", None], "next": None}),
    Reply(200, {"results": [], "next": "javascript:alert(1)"}),
    Reply(200, {"results": [], "next": "http://[::1"}),
    Reply(201, {"results": [], "next": "http://evil.example:99999/x"}),
    Reply(500, b"<html>oops</html>"),
    Reply(404, {"detail": "a string"}),
    Reply(400, error(7)),
    Reply(400, error("x" * 10_000)),
    Reply(400, error("compile_error", messages="nope")),
    Reply(400, error("compile_error", messages=[1, "x", {"path": 7, "node_id": []}])),
    Reply(409, error("deploy_in_progress", deployment_id={"x": 1}, fix=["no"])),
    Reply(401, error("not_authenticated", message=f"your token {TOKEN} is wrong")),
    Reply(301, b"", {"Location": "http://evil.example/api/v1/"}),
    Reply(302, b"", {"Location": "//[bad"}),
    Reply(307, b"x" * 3_000_000),
    Reply(308, b"", {"Location": "https://user:pw@evil.example:notaport/"}),
    Reply(429, error("throttled"), {"Retry-After": "garbage"}),
    Reply(503, error("down"), {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    Reply(204, b""),
    Reply(199, b""),
    Reply(600, b"{}"),
]

FLOW_COMMANDS = [
    ("push", "new/echo.flow.json"),
    ("push", "locked/echo.flow.json"),
    ("deploy", "locked/echo.flow.json"),
    ("pull", "--all", "--dir", "out"),
    ("pull", "--dir", "out", SAFE_ID),
    ("diff", "locked/echo.flow.json"),
]
DEPLOYMENT_COMMANDS = [
    ("deploy", SAFE_ID),
    ("deploy", "new/echo.flow.json"),
    ("status",),
    ("status", "locked/echo.flow.json"),
]


def fixed_answers(flow, deployment):
    """The server's answers: every route answers with `flow` or `deployment` (or a page of
    one of them), as ScaiFlow would with the right types."""

    def answer(method: str, path: str) -> Reply:
        route = path.split("?")[0]
        if route.endswith("/deploy"):
            return Reply(201, deployment)
        if route.endswith("deployments"):
            return Reply(200, {"results": [deployment], "next": None})
        if route == "/api/v1/flows" and method == "GET":
            return Reply(200, {"results": [flow], "next": None})
        return Reply(201 if method == "POST" else 200, flow)

    return answer


HOSTILE_FLOWS = mutated(
    FLOW, ("id", "name", "version", "content_sha256", "content"), every_value_of="id"
)
HOSTILE_DEPLOYMENTS = mutated(
    DEPLOYMENT,
    ("id", "flow_id", "flow_version", "status", "core_id", "error"),
    every_value_of="flow_id",
)
CASES = [
    *(
        pytest.param(fixed_answers(body, DEPLOYMENT), FLOW_COMMANDS, id=f"flow{number}")
        for number, body in enumerate(HOSTILE_FLOWS)
    ),
    *(
        pytest.param(fixed_answers(FLOW, body), DEPLOYMENT_COMMANDS, id=f"deployment{number}")
        for number, body in enumerate(HOSTILE_DEPLOYMENTS)
    ),
    *(
        pytest.param(
            lambda method, path, reply=reply: reply,
            FLOW_COMMANDS + DEPLOYMENT_COMMANDS,
            id=f"raw{number}",
        )
        for number, reply in enumerate(RAW)
    ),
]


def snapshot(root) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def work_tree(root):
    """A fresh tree: `new/` a file never pushed, `locked/` one the lock ties to SAFE_ID."""
    if root.exists():
        shutil.rmtree(root)
    for directory in ("new", "locked"):
        (root / directory).mkdir(parents=True)
        (root / directory / "echo.flow.json").write_text(json.dumps(CONTENT))
    entry = {"id": SAFE_ID, "version": 1, "content_sha256": "ff", "name": "Echo"}
    lock = {"format": 1, "flows": {"echo.flow.json": entry}}
    (root / "locked" / ".scaiflow.json").write_text(json.dumps(lock))


# What a command may write besides `--dir`: the lock files beside the files it pushes.
MAY_CHANGE = {"new/.scaiflow.json", "locked/.scaiflow.json"}


@pytest.mark.parametrize(("answer", "commands"), CASES)
def test_a_hostile_server_gets_nothing_out_of_the_command(
    server, run, tmp_path, monkeypatch, answer, commands
):
    server.respond = answer
    root = tmp_path / "work" / "a" / "b"
    for number, command in enumerate(commands):
        work_tree(root)
        monkeypatch.chdir(root)
        before = snapshot(tmp_path)
        as_json = ("--json",) if number % 2 else ()

        ran = run(*command, *as_json, "--retries", "0")

        assert ran.code in DOCUMENTED, (command, ran.code)
        assert "Traceback" not in ran.err, (command, ran.err)
        assert TOKEN not in ran.out + ran.err, command
        if as_json:
            assert json.loads(ran.out)["exit_code"] == ran.code, command
        after = snapshot(tmp_path)
        changed = {
            name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
        }
        prefix = "work/a/b/"
        outside_dir = {
            name for name in changed
            if not name.startswith(f"{prefix}out") and name.removeprefix(prefix) not in MAY_CHANGE
        }  # fmt: skip
        assert outside_dir == set(), (command, outside_dir)
        assert not (tmp_path / "pwned").exists() and not (tmp_path.parent / "pwned").exists()
