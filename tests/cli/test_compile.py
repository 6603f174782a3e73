"""`scaiflow compile`: output, stderr format, exit codes, -o, --format ir, stdin."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaiflow.cli.main import main
from tests.flows.compiler.factories import minimal_flow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-triage.flow.json"


@pytest.fixture
def flow_file(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(minimal_flow()))
    return path


@pytest.fixture
def broken_file(tmp_path):
    flow = minimal_flow()
    flow["nodes"][1]["data"]["role"] = "critic"
    flow["nodes"][2]["data"]["value"] = "{{ghost.x}}"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(flow))
    return path


def test_compile_prints_the_manifest_and_exits_0(flow_file, capsys):
    assert main(["compile", str(flow_file)]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["spec"]["entry"] == "start"
    assert err == ""


def test_compile_errors_go_to_stderr_and_exit_1(broken_file, capsys):
    assert main(["compile", str(broken_file)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == (
        f"{broken_file}:/nodes/1/data/role: error undeclared_llm_role: "
        'LLM role "critic" is not declared in config.llm_roles'
    )
    assert lines[1].startswith(f"{broken_file}:/nodes/2/data/value: error unknown_reference: ")
    assert lines[2] == f"scaiflow: {broken_file}: 2 compile errors; nothing written"


def test_warnings_are_printed_but_exit_0(tmp_path, capsys):
    flow = minimal_flow()
    flow["nodes"].append({"id": "orphan", "kind": "transform", "data": {"set": {"v": "x"}}})
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(flow))
    assert main(["compile", str(path)]) == 0
    out, err = capsys.readouterr()
    message = 'block "orphan" cannot be reached from the trigger'
    assert err == f"{path}:/nodes/3: warning unreachable_node: {message}\n"
    assert out.startswith("apiVersion: scaicore/v1\n")


def test_invalid_json_has_an_empty_path(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_bytes(b"{nope")
    assert main(["compile", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"{path}:: error invalid_json: line 1, column 2: ")


def test_output_file(flow_file, tmp_path, capsys):
    out_path = tmp_path / "core.yaml"
    assert main(["compile", str(flow_file), "-o", str(out_path)]) == 0
    assert capsys.readouterr().out == ""
    assert yaml.safe_load(out_path.read_text())["kind"] == "Core"


def test_nothing_is_written_on_errors(broken_file, tmp_path):
    out_path = tmp_path / "core.yaml"
    assert main(["compile", str(broken_file), "--output", str(out_path)]) == 1
    assert not out_path.exists()


def test_format_ir_prints_json(flow_file, capsys):
    assert main(["compile", str(flow_file), "--format", "ir"]) == 0
    ir = json.loads(capsys.readouterr().out)
    assert ir["ir_version"] == 1 and ir["entry"] == "start"
    assert [block["id"] for block in ir["blocks"]] == ["start", "ask", "reply"]


def test_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EXAMPLE.read_bytes())))
    assert main(["compile", "-"]) == 0
    assert "support-triage" in capsys.readouterr().out


def test_stdin_errors_are_labelled(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[")))
    assert main(["compile", "-"]) == 1
    assert capsys.readouterr().err.startswith("<stdin>:: error invalid_json: ")


def test_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["compile", str(tmp_path)]) == 2


def test_unwritable_output_exits_2(flow_file, tmp_path, capsys):
    assert main(["compile", str(flow_file), "-o", str(tmp_path / "no" / "such" / "dir.yaml")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["compile"], ["compile", "a", "b"], ["compile", "f", "--format", "xml"], ["deploy"]],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: scaiflow" in capsys.readouterr().err


def test_plugin_catalog_from_the_environment(tmp_path, monkeypatch, capsys):
    flow = minimal_flow()
    flow["nodes"].append(
        {"id": "ping", "kind": "plugin", "data": {"plugin": "acme.ping", "args": {"host": "x"}}}
    )
    flow["edges"].append({"source": "ask", "target": "ping"})
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    assert main(["compile", str(path)]) == 1
    assert "unknown_plugin" in capsys.readouterr().err
    catalog = tmp_path / "plugins.yaml"
    catalog.write_text(
        "plugins:\n  acme.ping:\n    args:\n      host: {type: string, required: true}\n"
    )
    monkeypatch.setenv("SCAIFLOW_PLUGIN_CATALOG", str(catalog))
    assert main(["compile", str(path)]) == 0
    catalog.write_text("plugins: [nope]\n")
    assert main(["compile", str(path)]) == 2
    assert "plugins" in capsys.readouterr().err


def test_console_script_runs_without_django_settings(tmp_path):
    script = Path(sys.executable).with_name("scaiflow")
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    env["LC_ALL"] = "C"
    completed = subprocess.run(
        [str(script), "compile", "-", "--format", "yaml"],
        input=EXAMPLE.read_bytes().replace(b"Support triage", "Support triage \u00fc".encode()),
        capture_output=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "name: Support triage \u00fc" in completed.stdout.decode("utf-8")
    failed = subprocess.run(
        [str(script), "compile", "-"], input=b"{}", capture_output=True, env=env, check=False
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith(b"<stdin>:/name: error invalid_schema: ")


def test_json_holds_the_compile_endpoints_body(flow_file, broken_file, tmp_path, capsys):
    assert main(["compile", "--json", str(flow_file)]) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert err == ""
    assert sorted(body) == [
        "command", "exit_code", "file", "ir", "manifest", "messages", "ok",
    ]  # fmt: skip
    assert (body["ok"], body["exit_code"], body["file"]) == (True, 0, str(flow_file))
    assert body["manifest"].startswith("apiVersion: scaicore/v1")

    assert main(["compile", "--json", "-o", str(tmp_path / "out.yaml"), str(broken_file)]) == 1
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert (body["ok"], body["exit_code"], body["manifest"], err) == (False, 1, None, "")
    assert {message["code"] for message in body["messages"]} >= {"undeclared_llm_role"}
    assert not (tmp_path / "out.yaml").exists()

    assert main(["compile", "--json", str(tmp_path / "missing.json")]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["error"] == "unreadable_file"
