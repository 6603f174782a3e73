"""One minimal flow per diagnostic code of SPEC §6, each triggering exactly that code."""

from __future__ import annotations

import copy
import json

import pytest

from flows.compiler import CODES, Diagnostic, compile_flow
from flows.compiler.diagnostics import pointer

from .factories import edge, flow_with, minimal_flow, node


def _without_trigger():
    flow = minimal_flow()
    flow["nodes"] = [
        node("ask", "llm", role="writer", prompt="Say hello", output="text"),
        node("reply", "output", value="{{ask.text}}"),
    ]
    flow["edges"] = [edge("ask", "reply")]
    return flow


def _with_branch(extra_handle):
    flow = minimal_flow()
    flow["nodes"].insert(
        2, node("route", "branch", cases=[{"when": "ask.text == 'y'", "handle": "yes"}])
    )
    flow["edges"] = [
        edge("start", "ask"),
        edge("ask", "route"),
        edge("route", "reply", "yes"),
        edge("route", "reply", extra_handle),
    ]
    return flow


def _replace(flow, index, **data):
    flow = copy.deepcopy(flow)
    flow["nodes"][index]["data"].update(data)
    return flow


def _without_output():
    flow = minimal_flow()
    del flow["nodes"][2]
    flow["edges"] = [edge("start", "ask")]
    return flow


def _with_queue(queue):
    return flow_with(
        node("review", "queue", scope="support", queue=queue, title="Check {{ask.text}}"),
        scaiqueue={
            "scope": {"slug": "support", "name": "Support", "config": {}},
            "queues": [{"slug": "review", "name": "Review", "config": {}}],
        },
    )


# code -> (source, compile_flow keyword arguments, expected path, expected node_id)
CASES = {
    "invalid_json": (b'{"name": "broken", "nodes": [', {}, "", None),
    "invalid_schema": (_replace(minimal_flow(), 1, prompt=42), {}, "/nodes/1/data/prompt", "ask"),
    "duplicate_node_id": (
        {**minimal_flow(), "nodes": [*minimal_flow()["nodes"], node("reply", "output", value="x")]},
        {},
        "/nodes/3/id",
        "reply",
    ),
    "unknown_block_kind": (flow_with(node("mail", "email")), {}, "/nodes/3/kind", "mail"),
    "missing_trigger": (_without_trigger(), {}, "/nodes", None),
    "multiple_triggers": (
        flow_with(extra_edges=(edge("again", "ask"),))
        | {"nodes": [*minimal_flow()["nodes"], node("again", "trigger", type="webhook")]},
        {},
        "/nodes/3",
        "again",
    ),
    "dangling_edge": (flow_with(extra_edges=(edge("ask", "ghost"),)), {}, "/edges/2/target", None),
    "unknown_handle": (_with_branch("maybe"), {}, "/edges/3/source_handle", "route"),
    "cycle": (
        flow_with(node("again", "transform", set={"x": "y"}), extra_edges=(edge("again", "ask"),)),
        {},
        "/nodes/1",
        "ask",
    ),
    "no_output": (_without_output(), {}, "/nodes", None),
    "unreachable_node": (
        {
            **minimal_flow(),
            "nodes": [*minimal_flow()["nodes"], node("orphan", "transform", set={"x": "y"})],
        },
        {},
        "/nodes/3",
        "orphan",
    ),
    "undeclared_llm_role": (
        _replace(minimal_flow(), 1, role="critic"),
        {},
        "/nodes/1/data/role",
        "ask",
    ),
    "unknown_plugin": (
        flow_with(node("upload", "plugin", plugin="ftp.upload", args={})),
        {},
        "/nodes/3/data/plugin",
        "upload",
    ),
    "plugin_missing_arg": (
        flow_with(node("fetch", "plugin", plugin="http.request", args={"method": "GET"})),
        {},
        "/nodes/3/data/args",
        "fetch",
    ),
    "plugin_bad_arg": (
        flow_with(node("fetch", "plugin", plugin="http.request", args={"url": 42})),
        {},
        "/nodes/3/data/args/url",
        "fetch",
    ),
    "unknown_reference": (
        _replace(minimal_flow(), 2, value="{{nobody.text}}"),
        {},
        "/nodes/2/data/value",
        "reply",
    ),
    "undeclared_queue": (_with_queue("escalations"), {}, "/nodes/3/data/queue", "review"),
    "flow_too_large": (json.dumps(minimal_flow()), {"max_bytes": 100}, "", None),
}


def test_every_code_has_a_case():
    assert set(CASES) == set(CODES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_minimal_flow_triggers_exactly_its_code(code):
    source, kwargs, path, node_id = CASES[code]
    result = compile_flow(source, **kwargs)
    assert [diagnostic.code for diagnostic in result.diagnostics] == [code], result.diagnostics
    diagnostic = result.diagnostics[0]
    assert diagnostic.path == path
    assert diagnostic.node_id == node_id
    if code == "unreachable_node":
        assert diagnostic.severity == "warning"
        assert result.ok and result.manifest is not None
    else:
        assert diagnostic.severity == "error"
        assert not result.ok
        assert result.manifest is None and result.ir is None and result.ir_dict() is None


def test_minimal_flow_compiles_cleanly():
    result = compile_flow(minimal_flow())
    assert result.ok and result.diagnostics == ()


def test_all_problems_are_reported_in_one_pass():
    flow = minimal_flow()
    flow["nodes"][1]["data"]["role"] = "critic"
    flow["nodes"].append(node("fetch", "plugin", plugin="http.request", args={"url": 1}))
    flow["nodes"].append(node("mystery", "teleport"))
    flow["edges"] += [edge("ask", "fetch"), edge("ask", "nowhere"), edge("ask", "mystery")]
    flow["nodes"][2]["data"]["value"] = "{{nobody.x}}"
    codes = {diagnostic.code for diagnostic in compile_flow(flow).diagnostics}
    assert codes == {
        "undeclared_llm_role",
        "plugin_bad_arg",
        "unknown_block_kind",
        "dangling_edge",
        "unknown_reference",
    }


def test_reference_to_a_later_node_is_unknown():
    flow = _replace(minimal_flow(), 1, prompt="Improve {{reply.value}}")
    result = compile_flow(flow)
    assert [(d.code, d.path) for d in result.diagnostics] == [
        ("unknown_reference", "/nodes/1/data/prompt")
    ]


def test_reference_to_a_sibling_branch_is_unknown():
    flow = flow_with(
        node("left", "transform", set={"v": "{{ask.text}}"}),
        node("right", "transform", set={"v": "{{left.v}}"}),
    )
    result = compile_flow(flow)
    assert [(d.code, d.node_id) for d in result.diagnostics] == [("unknown_reference", "right")]


def test_malformed_reference_is_unknown():
    result = compile_flow(_replace(minimal_flow(), 2, value="{{ask}}"))
    assert [d.code for d in result.diagnostics] == ["unknown_reference"]


def test_unknown_plugin_arg_is_a_bad_arg():
    flow = flow_with(
        node("fetch", "plugin", plugin="http.request", args={"url": "u", "verb": "GET"})
    )
    result = compile_flow(flow)
    assert [(d.code, d.path) for d in result.diagnostics] == [
        ("plugin_bad_arg", "/nodes/3/data/args/verb")
    ]


def test_whole_template_is_accepted_for_any_arg_type():
    flow = flow_with(
        node(
            "fetch",
            "plugin",
            plugin="scaigrid.search",
            args={"index": "kb", "query": "q", "top_k": "{{ask.text}}"},
        )
    )
    assert compile_flow(flow).ok


def test_scope_must_be_the_declared_one():
    flow = _with_queue("review")
    flow["nodes"][3]["data"]["scope"] = "sales"
    result = compile_flow(flow)
    assert [(d.code, d.path) for d in result.diagnostics] == [
        ("undeclared_queue", "/nodes/3/data/scope")
    ]


def test_queue_slugs_are_free_without_scaiqueue_config():
    flow = flow_with(node("review", "queue", scope="any", queue="thing"))
    assert compile_flow(flow).ok


def test_json_pointer_escapes_tilde_and_slash():
    assert pointer("/nodes/1/data/args", "a/b~c") == "/nodes/1/data/args/a~1b~0c"
    flow = flow_with(node("fetch", "plugin", plugin="http.request", args={"url": "u", "a/b~c": 1}))
    paths = [d.path for d in compile_flow(flow).diagnostics]
    assert paths == ["/nodes/3/data/args/a~1b~0c"]


def test_diagnostic_as_dict_omits_none():
    assert Diagnostic("cycle", "error", "m").as_dict() == {
        "code": "cycle",
        "severity": "error",
        "message": "m",
    }
    assert Diagnostic("cycle", "error", "m", node_id="a", path="/nodes/0").as_dict() == {
        "code": "cycle",
        "severity": "error",
        "message": "m",
        "node_id": "a",
        "path": "/nodes/0",
    }


def test_as_dict_is_the_compile_endpoint_body():
    body = compile_flow(b"[").as_dict()
    assert body["ok"] is False and body["manifest"] is None and body["ir"] is None
    assert body["messages"][0]["code"] == "invalid_json"
    assert json.loads(json.dumps(compile_flow(minimal_flow()).as_dict()))["ok"] is True


def test_diagnostics_come_in_a_stable_order():
    flow = minimal_flow()
    flow["nodes"] += [node(f"x{n}", "teleport") for n in range(5)]
    first = compile_flow(json.dumps(flow)).diagnostics
    assert first == compile_flow(json.dumps(flow)).diagnostics
    assert [d.path for d in first] == [f"/nodes/{n}/kind" for n in range(3, 8)] + [
        f"/nodes/{n}" for n in range(3, 8)
    ]
