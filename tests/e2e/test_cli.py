"""`scaiflow push|deploy|pull|status|diff` as a CI job runs them: the installed command, in a
subprocess, against a live ScaiFlow and devstack. Every run checks that the token it was given
appears nowhere in what it printed."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.models import Deployment, Status
from flows.models import Flow, FlowVersion
from tests.deployments.conftest import SIMPLE_FLOW
from tests.docs.runner import shell_env
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

SCAIFLOW = str(Path(sys.executable).parent / "scaiflow")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


class Cli:
    """The `scaiflow` command in a scratch directory, with SCAIFLOW_URL and SCAIFLOW_TOKEN."""

    def __init__(self, url: str, token: str, workdir: Path) -> None:
        self.token = token
        self.workdir = workdir
        self.env = shell_env({"SCAIFLOW_URL": url, "SCAIFLOW_TOKEN": token}, Path(SCAIFLOW).parent)

    def __call__(self, *args: str, **env: str) -> Result:
        completed = subprocess.run(
            [SCAIFLOW, *args],
            cwd=self.workdir,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        result = Result(completed.returncode, completed.stdout, completed.stderr)
        for secret in {self.token, env.get("SCAIFLOW_TOKEN", self.token)} - {""}:
            assert secret not in result.stdout + result.stderr
        if "--json" in args:
            assert result.stderr == ""
            assert result.json["exit_code"] == result.code
        return result

    def write(self, name: str, content) -> Path:
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if not isinstance(content, str) else content)
        return path

    def lock(self, directory: str = ".") -> dict:
        return json.loads((self.workdir / directory / ".scaiflow.json").read_text())["flows"]


@pytest.fixture
def cli(stack, acme, live_server, tmp_path) -> Cli:
    workdir = tmp_path / "repo"
    workdir.mkdir()
    return Cli(live_server.url, stack.mint_token(tenant="acme", sub="alice"), workdir)


@pytest.fixture
def bob(stack, live_server) -> Api:
    """Another user of the tenant, changing flows on the canvas."""
    return Api(live_server.url, stack.mint_token(tenant="acme", sub="bob"))


def echo(**changes):
    content = copy.deepcopy(SIMPLE_FLOW)
    content["config"]["llm_roles"]["main"].update(changes)
    return content


def versions_of(flow_id: str) -> list[int]:
    return sorted(
        FlowVersion.objects.filter(flow__public_id=flow_id).values_list("number", flat=True)
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- push → deploy → status ------------------------------------------------------------------


def test_push_deploy_status(cli, stack):
    cli.write("flows/echo.flow.json", echo())
    pushed = cli("push", "--json", "flows/echo.flow.json")
    assert pushed.code == 0
    (result,) = pushed.json["results"]
    assert result["action"] == "created" and result["version"] == 1
    flow_id = result["flow_id"]
    assert Flow.objects.get(public_id=flow_id).name == "Echo bot"
    assert cli.lock("flows")["echo.flow.json"]["id"] == flow_id

    deployed = cli("deploy", "flows/echo.flow.json")
    assert deployed.code == 0, deployed.stderr
    record = Deployment.objects.get(flow__public_id=flow_id)
    assert record.status == Status.SUCCEEDED and record.flow_version == 1
    assert deployed.stdout.strip() == (
        f"flows/echo.flow.json: {flow_id} version 1 (unchanged) deployed: {record.id} "
        f"succeeded, Core {record.core_id} (created)"
    )
    assert record.core_id in stack.state()["cores"]

    status = cli("status", "--json", "flows/echo.flow.json")
    assert status.code == 0
    assert [(row["id"], row["status"]) for row in status.json["deployments"]] == [
        (record.id, "succeeded")
    ]
    table = cli("status").stdout.splitlines()
    assert table[0].split() == [
        "DEPLOYMENT",
        "FLOW",
        "VERSION",
        "STATUS",
        "CORE",
        "CREATED",
        "ERROR",
    ]
    assert table[1].split()[:5] == [record.id, flow_id, "1", "succeeded", record.core_id]


def test_deploy_pushes_a_changed_file_and_passes_publish_and_groups(cli):
    path = cli.write("echo.flow.json", echo())
    cli("push", str(path.name))
    cli.write("echo.flow.json", echo(temperature=0.1))
    deployed = cli("deploy", "--json", "--publish", "--group", "grp_a", "--group", "grp_b",
                   "echo.flow.json")  # fmt: skip
    assert deployed.code == 0, deployed.stdout
    (result,) = deployed.json["results"]
    assert (result["push"], result["version"]) == ("updated", 2)
    record = Deployment.objects.get(id=result["deployment"]["id"])
    assert (record.flow_version, record.publish_as_model) == (2, True)
    assert record.group_ids == ["grp_a", "grp_b"]
    assert result["deployment"]["published_slug"] == record.published_slug != ""


def test_deploy_by_flow_id(cli, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    deployed = cli("deploy", "--json", "--no-publish", flow.public_id)
    assert deployed.code == 0
    (result,) = deployed.json["results"]
    assert (result["flow_id"], result["push"], result["deployment"]["status"]) == (
        flow.public_id,
        None,
        "succeeded",
    )


def test_idempotency_key_replays_the_deploy(cli):
    cli.write("echo.flow.json", echo())
    first = cli("deploy", "--json", "--idempotency-key", "ci-run-7", "echo.flow.json").json
    again = cli("deploy", "--json", "--idempotency-key", "ci-run-7", "echo.flow.json").json
    assert again["results"][0]["deployment"] == first["results"][0]["deployment"]
    assert Deployment.objects.count() == 1
    two = cli("deploy", "--idempotency-key", "k", "echo.flow.json", "other.flow.json")
    assert two.code == 2


# --- versions and conflicts --------------------------------------------------------------


def test_an_unchanged_push_makes_no_version(cli):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    # The same content, written otherwise: keys in another order, indented.
    cli.write("echo.flow.json", json.dumps(dict(reversed(echo().items())), indent=4))
    again = cli("push", "--json", "echo.flow.json")
    assert again.json["results"][0]["action"] == "unchanged"
    assert versions_of(flow_id) == [1]
    forced = cli("push", "--json", "--force", "echo.flow.json")  # asks the server: still equal
    assert forced.json["results"][0]["action"] == "unchanged"
    assert versions_of(flow_id) == [1]
    cli.write("echo.flow.json", echo(temperature=0.3))
    assert cli("push", "echo.flow.json").stdout == f"echo.flow.json: updated {flow_id} version 2\n"
    assert versions_of(flow_id) == [1, 2]


def test_a_concurrent_change_is_a_conflict(cli, bob):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    theirs = echo(model="scai-small")
    changed = bob.session.patch(f"{bob.base_url}/flows/{flow_id}", json={"content": theirs})
    assert changed.json()["version"] == 2
    cli.write("echo.flow.json", echo(temperature=0.9))

    conflict = cli("push", "--json", "echo.flow.json")
    assert conflict.code == 3
    error = conflict.json["results"][0]["error"]
    assert (error["error"], error["current_version"]) == ("version_conflict", 2)
    assert versions_of(flow_id) == [1, 2]
    assert cli.lock()["echo.flow.json"]["version"] == 1
    human = cli("push", "echo.flow.json")
    assert human.code == 3 and "version_conflict" in human.stderr and "fix: " in human.stderr

    diff = cli("diff", "--json", "echo.flow.json").json
    assert (diff["from_version"], diff["conflict"], diff["config"]["changed"]) == (
        2,
        True,
        ["llm_roles"],
    )

    forced = cli("push", "--json", "--force", "echo.flow.json")
    assert forced.code == 0 and forced.json["results"][0]["version"] == 3
    assert versions_of(flow_id) == [1, 2, 3]


def test_deploy_of_an_unchanged_file_after_a_canvas_edit_is_a_conflict(cli, bob):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    bob.session.patch(f"{bob.base_url}/flows/{flow_id}", json={"content": echo(model="x")})
    refused = cli("deploy", "--json", "echo.flow.json")
    assert refused.code == 3
    assert refused.json["results"][0]["error"]["error"] == "version_conflict"
    assert not Deployment.objects.filter(flow_version=2).exists()
    forced = cli("deploy", "--json", "--force", "echo.flow.json").json["results"][0]
    assert (forced["version"], forced["deployment"]["status"]) == (3, "succeeded")


def test_someone_pushing_the_same_content_is_no_conflict(cli, bob):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    bob.session.patch(f"{bob.base_url}/flows/{flow_id}", json={"content": echo(top_p=1)})
    cli.write("echo.flow.json", echo(top_p=1))
    pushed = cli("push", "--json", "echo.flow.json").json["results"][0]
    assert (pushed["action"], pushed["version"]) == ("unchanged", 2)
    assert cli.lock()["echo.flow.json"]["version"] == 2


def test_a_renamed_file_stays_the_same_flow(cli):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    (cli.workdir / "echo.flow.json").rename(cli.workdir / "bot.flow.json")
    again = cli("push", "--json", "bot.flow.json").json["results"][0]
    assert (again["flow_id"], again["action"]) == (flow_id, "unchanged")
    assert list(cli.lock()) == ["bot.flow.json"]
    # Renamed and changed: the flow's name ties it.
    (cli.workdir / "bot.flow.json").rename(cli.workdir / "echo-bot.flow.json")
    cli.write("echo-bot.flow.json", echo(temperature=0.5))
    changed = cli("push", "--json", "echo-bot.flow.json").json["results"][0]
    assert (changed["flow_id"], changed["action"]) == (flow_id, "updated")
    assert Flow.objects.count() == 1


# --- pull and diff ---------------------------------------------------------------------------


def test_pull_writes_stable_files_that_push_finds_unchanged(cli, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    other = make_flow(SIMPLE_FLOW)  # the same name: the second file gets its id
    pulled = cli("pull", "--json", "--dir", "flows", flow.public_id)
    assert pulled.code == 0
    path = cli.workdir / "flows" / "echo-bot.flow.json"
    assert path.read_text() == json.dumps(SIMPLE_FLOW, indent=2, sort_keys=True) + "\n"
    assert cli.lock("flows")["echo-bot.flow.json"]["id"] == flow.public_id

    every = cli("pull", "--json", "--all", "--dir", "flows").json["results"]
    by_id = {item["flow_id"]: (Path(item["file"]).name, item["action"]) for item in every}
    assert by_id == {
        flow.public_id: ("echo-bot.flow.json", "unchanged"),
        other.public_id: (f"echo-bot-{other.public_id.replace('_', '-')}.flow.json", "written"),
    }
    pushed = cli("push", "--json", "flows/echo-bot.flow.json").json["results"][0]
    assert pushed["action"] == "unchanged"

    cli.write("flows/echo-bot.flow.json", echo(temperature=0.2))
    refused = cli("pull", "--dir", "flows", flow.public_id)
    assert refused.code == 3 and "local_changes" in refused.stderr
    assert json.loads(path.read_text()) == echo(temperature=0.2)


def test_diff_says_what_push_would_change(cli):
    cli.write("echo.flow.json", echo())
    new = cli("diff", "--json", "echo.flow.json").json
    assert (new["flow_id"], new["changed"], new["nodes"]["added"]) == (
        None,
        True,
        ["answer", "reply", "start"],
    )
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    assert cli("diff", "echo.flow.json").stdout == (
        f"echo.flow.json: no changes against {flow_id} v1\n"
    )
    content = echo()
    content["nodes"][1]["data"]["prompt"] = "Answer: {{start.message}}"
    content["nodes"].append({"id": "loose", "kind": "output", "data": {"value": "x"}})
    cli.write("echo.flow.json", content)
    body = cli("diff", "--json", "echo.flow.json").json
    assert sorted(body) == sorted([
        "command", "ok", "exit_code", "file", "flow_id", "from_version", "changed", "conflict",
        "nodes", "edges", "config", "compiles", "manifest_diff",
    ])  # fmt: skip
    assert body["nodes"]["added"] == ["loose"]
    assert body["nodes"]["changed"] == [{"id": "answer", "data_fields": ["prompt"]}]
    assert "+" in body["manifest_diff"] and "Answer:" in body["manifest_diff"]
    human = cli("diff", "echo.flow.json").stdout
    assert f"echo.flow.json against {flow_id} v1:" in human
    assert "  nodes added: loose" in human and "  nodes changed: answer (data prompt)" in human
    assert versions_of(flow_id) == [1]  # diff saves nothing


# --- every exit status, from the situation that produces it -------------------------------


BROKEN = {"name": "Broken", "nodes": [{"id": "start", "kind": "trigger", "data": {"type": "chat"}},
          {"id": "ask", "kind": "llm", "data": {"role": "nobody", "prompt": "hi"}}],
          "edges": [{"source": "start", "target": "ask"}]}  # fmt: skip


def test_exit_1_the_flow_does_not_compile(cli):
    cli.write("broken.flow.json", BROKEN)
    result = cli("deploy", "broken.flow.json")
    assert result.code == 1
    assert "broken.flow.json: compile_error:" in result.stderr
    assert "error undeclared_llm_role:" in result.stderr and "(node ask)" in result.stderr
    as_json = cli("deploy", "--json", "broken.flow.json").json["results"][0]["error"]
    assert as_json["error"] == "compile_error"
    assert {m["code"] for m in as_json["messages"]} >= {"undeclared_llm_role", "no_output"}
    cli.write("garbled.flow.json", "{not json")
    assert cli("push", "garbled.flow.json").code == 1


def test_exit_2_usage(cli, live_server):
    assert cli("push").code == 2  # argparse: a FILE is required
    assert cli("push", "--json", "missing.flow.json").json["results"][0]["error"]["error"] == (
        "unreadable_file"
    )
    assert cli("pull").code == 2
    assert cli("deploy", "flw_doesnotexist0000000").code == 2  # 404 not_found
    no_url = cli("status", "--json", SCAIFLOW_URL="")
    assert (no_url.code, no_url.json["error"]["error"]) == (2, "no_url")


def test_exit_3_deploy_in_progress(cli):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    flow = Flow.objects.get(public_id=flow_id)
    running = Deployment.objects.create(
        tenant=flow.tenant,
        flow=flow,
        flow_name=flow.name,
        flow_version=1,
        status=Status.PENDING,
        actor="scaikey:bob",
    )
    result = cli("deploy", "--json", "echo.flow.json")
    assert result.code == 3
    error = result.json["results"][0]["error"]
    assert (error["error"], error["deployment_id"]) == ("deploy_in_progress", running.id)


def test_exit_4_authentication_and_credentials(cli, settings):
    bad = cli("status", "--json", SCAIFLOW_TOKEN="not-a-valid-token")
    assert (bad.code, bad.json["error"]["error"]) == (4, "not_authenticated")
    assert cli("status", "--token", "another-bad-token").code == 4
    missing = cli("status", "--json", SCAIFLOW_TOKEN="")
    assert (missing.code, missing.json["error"]["error"]) == (4, "no_token")
    # Deploys that do not forward the caller's JWT need the tenant's key, which acme lacks.
    settings.SCAIFLOW_DEPLOY_AUTH = "api_key"
    settings.SCAIGRID_API_KEY = ""
    cli.write("echo.flow.json", echo())
    result = cli("deploy", "--json", "echo.flow.json")
    assert result.code == 4
    assert result.json["results"][0]["error"]["error"] == "missing_scaigrid_credentials"


def test_exit_5_upstream_failure(cli, stack):
    stack.fault("POST", "/v1/modules/scaicore/cores", status=500, body={"error": "boom"})
    cli.write("echo.flow.json", echo())
    result = cli("deploy", "echo.flow.json")
    assert result.code == 5
    assert "scaicore_create_failed" in result.stderr and "(deployment dep_" in result.stderr


def test_exit_6_unreachable_unavailable_throttled(cli, settings, tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    down = cli("status", "--json", "--retries", "1", SCAIFLOW_URL=nobody)
    assert (down.code, down.json["error"]["error"]) == (6, "unreachable")

    cli.write("echo.flow.json", echo())
    cli("push", "echo.flow.json")
    empty = tmp_path / "unreachable-storage"
    empty.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "flows": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                  "OPTIONS": {"location": empty}},
    }  # fmt: skip
    unavailable = cli("diff", "--json", "--retries", "0", "echo.flow.json")
    assert (unavailable.code, unavailable.json["error"]["error"]) == (
        6,
        "flow_storage_unavailable",
    )


def test_exit_6_throttled(cli, settings):
    settings.SCAIFLOW_DEPLOY_RATE = "1/min"
    cli.write("echo.flow.json", echo())
    assert cli("deploy", "echo.flow.json").code == 0
    throttled = cli("deploy", "--json", "--retries", "0", "echo.flow.json")
    assert throttled.code == 6
    error = throttled.json["results"][0]["error"]
    assert error["error"] == "throttled" and error["retry_after"] > 0


# --- the JSON output -------------------------------------------------------------------------


def test_json_output_keeps_its_shape(cli):
    cli.write("echo.flow.json", echo())
    push = cli("push", "--json", "echo.flow.json").json
    assert sorted(push) == ["command", "exit_code", "ok", "results"]
    assert sorted(push["results"][0]) == ["action", "error", "file", "flow_id", "version"]
    deploy = cli("deploy", "--json", "echo.flow.json").json["results"][0]
    assert sorted(deploy) == ["deployment", "error", "flow_id", "push", "target", "version"]
    assert sorted(deploy["deployment"]) == sorted([
        "id", "flow_id", "flow_version", "status", "core_id", "core_action", "published_slug",
        "created_at",
    ])  # fmt: skip
    status = cli("status", "--json").json
    assert sorted(status) == ["command", "deployments", "exit_code", "flow_id", "ok"]
    assert sorted(status["deployments"][0]) == sorted([*deploy["deployment"], "flow_name", "error"])
    pull = cli("pull", "--json", "--dir", "out", deploy["flow_id"]).json["results"][0]
    assert sorted(pull) == ["action", "error", "file", "flow_id", "version"]
    # Byte for byte the same document when nothing changed.
    assert (
        cli("push", "--json", "echo.flow.json").stdout
        == cli("push", "--json", "echo.flow.json").stdout
    )


def test_deploy_after_someone_saved_the_files_content_deploys_it(cli, bob):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    url = f"{bob.base_url}/flows/{flow_id}"
    bob.session.patch(url, json={"content": echo(model="x")})
    bob.session.patch(url, json={"content": echo()})  # and back: version 3 is the file
    result = cli("deploy", "--json", "echo.flow.json").json["results"][0]
    assert (result["push"], result["version"], result["deployment"]["status"]) == (
        "unchanged",
        3,
        "succeeded",
    )
    assert cli.lock()["echo.flow.json"]["version"] == 3


def test_files_are_written_whole_and_readable_else_exit_2(cli, make_flow):
    flow = make_flow(SIMPLE_FLOW)
    assert cli("pull", flow.public_id).code == 0
    for name in ("echo-bot.flow.json", ".scaiflow.json"):
        assert (cli.workdir / name).stat().st_mode & 0o644 == 0o644
    assert sorted(p.name for p in cli.workdir.iterdir()) == [".scaiflow.json", "echo-bot.flow.json"]
    unwritable = cli("pull", "--json", "--dir", "echo-bot.flow.json/sub", flow.public_id)
    assert (unwritable.code, unwritable.json["error"]["error"]) == (2, "unwritable_directory")
    cli.write("broken/.scaiflow.json", "{}")
    cli.write("broken/echo.flow.json", echo())
    result = cli("push", "--json", "broken/echo.flow.json")
    assert result.code == 2
    assert result.json["results"][0]["error"]["error"] == "invalid_lock_file"


def test_a_push_whose_lock_was_lost_makes_no_duplicate(cli):
    cli.write("echo.flow.json", echo())
    flow_id = cli("push", "--json", "echo.flow.json").json["results"][0]["flow_id"]
    (cli.workdir / ".scaiflow.json").unlink()  # a CI job run again, its lock never committed
    again = cli("push", "--json", "echo.flow.json").json["results"][0]
    assert (again["flow_id"], again["action"]) == (flow_id, "unchanged")
    assert cli.lock()["echo.flow.json"]["id"] == flow_id
    # A copy of a file the lock ties to that flow is another flow.
    cli.write("copy.flow.json", echo())
    copy_result = cli("push", "--json", "copy.flow.json").json["results"][0]
    assert copy_result["action"] == "created" and copy_result["flow_id"] != flow_id
    assert Flow.objects.count() == 2
