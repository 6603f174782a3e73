"""`scaiflow pull` against a server that names files for it: nothing is written outside
`--dir`, whatever the flow's id or name, and a lock file naming a path outside is refused."""

from __future__ import annotations

import json

import pytest

from tests.cli.fakeserver import Reply

SAFE_ID = "flw_k3v9x0q2m7c1r8t5z4wa"


def flow(flow_id: str, name: str = "!!!") -> dict:
    return {
        "id": flow_id,
        "name": name,
        "version": 1,
        "content_sha256": "ab",
        "content": {"name": name, "nodes": [], "edges": []},
    }


def files_under(root) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def tree(tmp_path):
    """`tmp_path/work/a/b` as the working tree around `--dir out`, as the issue's run was."""
    (tmp_path / "work" / "a" / "b").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize(
    "hostile_id",
    [
        "../../pwned-by-id",
        "../pwned",
        "..",
        "a/b",
        "flw_ok/../../pwned",
        "flw_ok\x00.json",
        "ABSOLUTE",  # replaced below by an absolute path under the test's directory
        "x" * 10_000,
    ],
)
def test_pull_never_writes_outside_dir(server, run, tree, monkeypatch, hostile_id):
    if hostile_id == "ABSOLUTE":
        hostile_id = str(tree / "pwned-absolute")
    monkeypatch.chdir(tree / "work" / "a" / "b")
    listing = {"results": [flow(hostile_id)], "next": None}
    server.on("GET", "/api/v1/flows", Reply(200, listing))
    server.respond = None
    server.on("GET", f"/api/v1/flows/{hostile_id}", Reply(200, flow(hostile_id)))
    before = files_under(tree)

    ran = run("pull", "--all", "--dir", "out")

    assert ran.code == 2
    error_lines = ran.err.splitlines()
    assert len(error_lines) == 1 and "unsafe_path" in error_lines[0]
    written = files_under(tree) - before
    assert written <= {"work/a/b/out", "work/a/b/out/.scaiflow.json"}
    assert not (tree / "pwned-absolute").exists()


def test_a_flow_id_asked_for_is_checked_before_any_request(server, run):
    ran = run("pull", "--dir", "out", "../../etc")
    assert ran.code == 2 and "unsafe_path" in ran.err
    assert [seen.path for seen in server.seen] == []


def test_a_name_gives_the_file_name_and_a_flow_id_the_fallback(server, run, tmp_path):
    server.on("GET", f"/api/v1/flows/{SAFE_ID}", Reply(200, flow(SAFE_ID, "../../Echo bot")))
    ran = run("pull", "--dir", "out", SAFE_ID)
    assert ran.code == 0, ran.err
    assert (tmp_path / "work" / "out" / "echo-bot.flow.json").exists()

    other = "flw_0000000000000000000b"
    server.on("GET", f"/api/v1/flows/{other}", Reply(200, flow(other, "!!!")))
    assert run("pull", "--dir", "out", other).code == 0
    assert (tmp_path / "work" / "out" / f"{other}.flow.json").exists()


def test_an_answer_for_another_flow_is_refused(server, run, tmp_path):
    server.on("GET", f"/api/v1/flows/{SAFE_ID}", Reply(200, flow("flw_other", "Echo")))
    ran = run("pull", "--dir", "out", SAFE_ID)
    assert ran.code == 6 and "invalid_answer" in ran.err
    assert not (tmp_path / "work" / "out" / "echo.flow.json").exists()


@pytest.mark.parametrize("file", ["../outside.flow.json", "/tmp/abs.flow.json", "..", "a/b"])
def test_a_lock_file_naming_a_path_outside_its_directory_is_refused(server, run, tmp_path, file):
    out = tmp_path / "work" / "out"
    out.mkdir()
    entry = {"id": SAFE_ID, "version": 1, "content_sha256": "ab", "name": "Echo"}
    lock = {"format": 1, "flows": {file: entry}}
    (out / ".scaiflow.json").write_text(json.dumps(lock))
    server.on("GET", f"/api/v1/flows/{SAFE_ID}", Reply(200, flow(SAFE_ID, "Echo")))
    before = files_under(tmp_path)

    ran = run("pull", "--dir", "out", SAFE_ID)

    assert ran.code == 2 and "invalid_lock_file" in ran.err
    assert files_under(tmp_path) == before
