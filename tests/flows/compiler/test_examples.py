"""The example flows compile, match their golden manifests, and compile deterministically."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import yaml

from flows.compiler import Labels, compile_flow

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.flow.json"))
GOLDEN = Path(__file__).with_name("golden")
LABELS = Labels(tenant="acme", flow_id="5f0c2a9e-example", flow_version=3)
# Set to regenerate the golden files after an intended change of the manifest format.
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _name(path: Path) -> str:
    return path.name.removesuffix(".flow.json")


def test_there_are_examples():
    assert len(EXAMPLES) >= 5


def test_examples_cover_every_block_kind_and_the_deploy_settings():
    flows = [json.loads(path.read_text()) for path in EXAMPLES]
    kinds = {node["kind"] for flow in flows for node in flow["nodes"]}
    assert kinds == {"trigger", "llm", "plugin", "branch", "transform", "queue", "output"}
    assert any(flow.get("config", {}).get("scaiqueue") for flow in flows)
    assert any(
        flow.get("config", {}).get("publish_as_model") and flow["config"].get("group_ids")
        for flow in flows
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=_name)
def test_example_compiles_to_its_golden_manifest(path):
    result = compile_flow(path.read_bytes(), labels=LABELS)
    assert result.ok, result.diagnostics
    assert result.diagnostics == ()
    golden = GOLDEN / f"{_name(path)}.yaml"
    if UPDATE:
        golden.write_text(result.manifest, encoding="utf-8")
    assert result.manifest == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", EXAMPLES, ids=_name)
def test_manifest_has_the_spec_shape(path):
    flow = json.loads(path.read_text())
    manifest = yaml.safe_load(compile_flow(flow, labels=LABELS).manifest)
    assert manifest["apiVersion"] == "scaicore/v1"
    assert manifest["kind"] == "Core"
    assert manifest["metadata"]["name"] == flow["name"]
    assert manifest["metadata"]["labels"] == {
        "scaiflow/tenant": "acme",
        "scaiflow/flow-id": "5f0c2a9e-example",
        "scaiflow/flow-version": "3",
    }
    spec = manifest["spec"]
    assert spec["llm_roles"] == flow["config"]["llm_roles"]
    blocks = {block["id"]: block for block in spec["blocks"]}
    assert set(blocks) == {node["id"] for node in flow["nodes"]}
    assert blocks[spec["entry"]]["kind"] == "trigger"
    assert spec["blocks"][0]["id"] == spec["entry"]
    for block in spec["blocks"]:
        if block["kind"] == "output":
            assert "next" not in block
        if block["kind"] == "branch":
            assert "next" not in block
            assert all("when" in case for case in block["config"]["cases"])


def test_spec_example_lowers_as_the_spec_shows():
    flow = json.loads((ROOT / "examples" / "support-triage.flow.json").read_text())
    spec = yaml.safe_load(compile_flow(flow).manifest)["spec"]
    blocks = {block["id"]: block for block in spec["blocks"]}
    assert blocks["start"] == {
        "id": "start",
        "kind": "trigger",
        "config": {"type": "chat"},
        "next": "classify",
    }
    assert blocks["route"] == {
        "id": "route",
        "kind": "branch",
        "config": {"cases": [{"when": "classify.category == 'refund'", "next": "review"}]},
        "default": "lookup",
    }
    assert blocks["reply"] == {
        "id": "reply",
        "kind": "output",
        "config": {"value": "{{classify.category}}"},
    }


def test_fan_out_is_a_list_of_next_blocks():
    flow = json.loads((ROOT / "examples" / "meeting-notes-fanout.flow.json").read_text())
    blocks = {b["id"]: b for b in yaml.safe_load(compile_flow(flow).manifest)["spec"]["blocks"]}
    assert blocks["notes"]["next"] == ["archive", "to_german", "to_japanese"]
    assert "next" not in blocks["archive"]


def test_labels_are_left_out_when_not_given():
    flow = json.loads(EXAMPLES[0].read_text())
    assert "labels" not in yaml.safe_load(compile_flow(flow).manifest)["metadata"]


@pytest.mark.parametrize("path", EXAMPLES, ids=_name)
def test_same_input_gives_byte_identical_yaml(path):
    source = path.read_bytes()
    first = compile_flow(source, labels=LABELS).manifest
    assert compile_flow(source, labels=LABELS).manifest == first
    assert compile_flow(json.loads(source), labels=LABELS).manifest == first
    assert compile_flow(source.decode(), labels=LABELS).manifest == first


@pytest.mark.parametrize("path", EXAMPLES, ids=_name)
def test_node_and_edge_order_do_not_change_the_manifest(path):
    flow = json.loads(path.read_text())
    expected = compile_flow(flow).manifest
    shuffler = random.Random(7)
    for _ in range(5):
        shuffled = dict(reversed(list(flow.items())))
        shuffled["nodes"] = shuffler.sample(flow["nodes"], len(flow["nodes"]))
        shuffled["edges"] = shuffler.sample(flow["edges"], len(flow["edges"]))
        assert compile_flow(shuffled).manifest == expected
