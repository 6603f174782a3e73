"""docs/ci.md's CI jobs, run: the `run` steps of the GitHub Actions workflow and the `script`
lines of the GitLab CI file, with bash, in a checkout holding flow files and their lock, against
a live ScaiFlow and devstack — with the secret as `SCAIFLOW_TOKEN`, as the jobs expose it.

Only the install lines (`pip install …`) are left out: the test's environment has the command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deployments.models import Deployment, Status
from tests.docs.conftest import ROOT
from tests.docs.runner import parse_blocks

pytestmark = pytest.mark.e2e

PAGE = ROOT / "docs" / "ci.md"
INSTALL = "pip install "


def ci_files() -> tuple[dict, dict]:
    """The page's two YAML files: (GitHub Actions workflow, GitLab CI file)."""
    found = [yaml.safe_load(block.text) for block, _, _ in parse_blocks(PAGE.read_text())
             if block.lang == "yaml"]  # fmt: skip
    assert len(found) == 2
    return found[0], found[1]


def github_jobs() -> dict[str, list[str]]:
    workflow, _ = ci_files()
    return {
        name: [step["run"] for step in job["steps"] if "run" in step]
        for name, job in workflow["jobs"].items()
    }


def gitlab_jobs() -> dict[str, list[str]]:
    _, pipeline = ci_files()
    before = pipeline.get("default", {}).get("before_script", [])
    return {
        name: [*before, *job["script"]]
        for name, job in pipeline.items()
        if isinstance(job, dict) and "script" in job
    }


@pytest.fixture
def checkout(docs_stack, tmp_path):
    """A clone of a flows repository: the first import (`scaiflow pull --all`), committed."""
    env, _, _ = docs_stack
    env = {**env, "SCAIFLOW_URL": env["SCAIFLOW"], "SCAIFLOW_TOKEN": env["TOKEN"]}
    repo = tmp_path / "flows-repo"
    repo.mkdir()
    pulled = subprocess.run(
        ["scaiflow", "pull", "--all", "--dir", "flows"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    shutil.copy(ROOT / "examples" / "order-status-assistant.flow.json", repo / "flows")
    return repo, env


def run_job(lines: list[str], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "\n".join(["set -e", *(line for line in lines if not line.startswith(INSTALL))])
    return subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_jobs_run_the_scaiflow_command_and_install_it_first():
    for jobs in (github_jobs(), gitlab_jobs()):
        assert set(jobs) == {"check", "deploy"} or set(jobs) == {"check-flows", "deploy-flows"}
        for lines in jobs.values():
            assert lines[0].startswith(INSTALL)
            assert all("scaiflow " in line for line in lines[1:])


@pytest.mark.parametrize("jobs", [github_jobs, gitlab_jobs], ids=["github", "gitlab"])
def test_the_deploy_job_deploys_every_flow_file(jobs, checkout):
    repo, env = checkout
    (deploy,) = [lines for name, lines in jobs().items() if name.startswith("deploy")]
    result = run_job(deploy, repo, env)
    assert result.returncode == 0, result.stderr
    assert env["TOKEN"] not in result.stdout + result.stderr
    deployed = Deployment.objects.filter(status=Status.SUCCEEDED)
    assert sorted(deployed.values_list("flow_name", flat=True)) == [
        "Order status assistant",
        "Support triage",
    ]
    assert "DEPLOYMENT" in result.stdout  # the status step's table
    lock = json.loads((repo / "flows" / ".scaiflow.json").read_text())["flows"]
    assert set(lock) == {"order-status-assistant.flow.json", "support-triage.flow.json"}


@pytest.mark.parametrize("jobs", [github_jobs, gitlab_jobs], ids=["github", "gitlab"])
def test_the_check_job_fails_on_a_flow_that_does_not_compile(jobs, checkout):
    repo, env = checkout
    (check,) = [lines for name, lines in jobs().items() if name.startswith("check")]
    assert run_job(check, repo, env).returncode == 0
    broken = json.loads((repo / "flows" / "support-triage.flow.json").read_text())
    broken["edges"].append({"source": "start", "target": "nowhere"})
    (repo / "flows" / "support-triage.flow.json").write_text(json.dumps(broken))
    result = run_job(check, repo, env)
    assert result.returncode == 1
    assert "dangling_edge" in result.stderr


def test_a_deploy_job_over_a_canvas_change_fails_with_exit_3(checkout, docs_stack):
    repo, env = checkout
    _, context, _ = docs_stack
    flow = context.flow
    from flows.services import flow_update

    content = json.loads((repo / "flows" / "support-triage.flow.json").read_text())
    content["config"]["llm_roles"]["triage"]["model"] = "scai-small"
    flow_update(flow=flow, actor="scaikey:bob", content=content)
    (deploy,) = [lines for name, lines in github_jobs().items() if name == "deploy"]
    result = run_job(deploy, repo, env)
    assert result.returncode == 3
    assert "version_conflict" in result.stderr
