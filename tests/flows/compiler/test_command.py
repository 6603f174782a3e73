"""`python manage.py compile_flow` runs the same code as `scaiflow compile`."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .factories import minimal_flow

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "invoice-approval.flow.json"


def test_compile_flow_prints_the_manifest():
    out = StringIO()
    call_command("compile_flow", str(EXAMPLE), stdout=out)
    assert out.getvalue().startswith("apiVersion: scaicore/v1\nkind: Core\n")


def test_compile_flow_ir_to_a_file(tmp_path):
    target = tmp_path / "ir.json"
    call_command("compile_flow", str(EXAMPLE), "--format", "ir", "-o", str(target))
    assert json.loads(target.read_text())["entry"] == "invoice_in"


def test_compile_flow_reports_errors_and_fails(tmp_path):
    flow = minimal_flow()
    flow["nodes"][1]["kind"] = "wormhole"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(flow))
    err = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("compile_flow", str(path), stderr=err)
    assert failure.value.returncode == 1
    assert f"{path}:/nodes/1/kind: error unknown_block_kind: " in err.getvalue()


def test_compile_flow_unreadable_file_exits_2(tmp_path):
    with pytest.raises(CommandError) as failure:
        call_command("compile_flow", str(tmp_path / "missing.json"))
    assert failure.value.returncode == 2


def test_compile_flow_uses_the_plugin_catalog_setting(settings, tmp_path):
    flow = minimal_flow()
    flow["nodes"].append({"id": "ping", "kind": "plugin", "data": {"plugin": "acme.ping"}})
    flow["edges"].append({"source": "ask", "target": "ping"})
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow))
    with pytest.raises(CommandError):
        call_command("compile_flow", str(path), stderr=StringIO())
    catalog = tmp_path / "plugins.yaml"
    catalog.write_text("plugins:\n  acme.ping:\n    description: ping\n")
    settings.SCAIFLOW_PLUGIN_CATALOG = str(catalog)
    out = StringIO()
    call_command("compile_flow", str(path), stdout=out)
    assert "plugin: acme.ping" in out.getvalue()
