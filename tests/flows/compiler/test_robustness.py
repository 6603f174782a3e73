"""No input makes the compiler raise or recurse without bound: everything is a diagnostic."""

from __future__ import annotations

import json

import pytest
import yaml

from flows.compiler import compile_flow, load_catalog, verify

from .factories import chain, edge, fan_out, minimal_flow, node


def _codes(source, **kwargs) -> list[str]:
    return [diagnostic.code for diagnostic in compile_flow(source, **kwargs).diagnostics]


def test_a_50000_node_chain_compiles_and_verifies():
    result = compile_flow(json.dumps(chain(50_000)))
    assert result.ok, result.diagnostics[:3]
    assert [block.id for block in result.ir.blocks[:3]] == ["n0", "n1", "n2"]
    assert result.manifest.endswith(
        "  - id: n49999\n    kind: output\n    config:\n      value: '{{n49998.v}}'\n"
    )
    assert verify(result.ir, load_catalog()) == []


def test_a_50000_node_cycle_is_one_diagnostic():
    flow = chain(50_000)
    flow["edges"].append(edge("n49998", "n1"))
    result = compile_flow(flow)
    assert [d.code for d in result.diagnostics] == ["cycle"]
    assert "and 49988 more" in result.diagnostics[0].message


def test_a_huge_fan_out_compiles():
    result = compile_flow(fan_out(20_000))
    assert result.ok
    start = result.ir.blocks[0]
    assert start.id == "start" and len(start.next) == 20_000
    assert result.ir.blocks[-1].id == "end"


def test_deeply_nested_json_is_invalid_json():
    assert _codes("[" * 200_000 + "]" * 200_000) == ["invalid_json"]
    assert _codes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000) == ["invalid_json"]


def test_deeply_nested_data_is_invalid_schema():
    deep: dict = {}
    inner = deep
    for _ in range(100_000):
        inner["x"] = {}
        inner = inner["x"]
    flow = minimal_flow()
    flow["nodes"][2]["data"]["value"] = deep
    result = compile_flow(flow)
    assert [d.code for d in result.diagnostics] == ["invalid_schema"]
    assert result.diagnostics[0].path.startswith("/nodes/2/data/value/x/x/")


def test_a_python_value_that_contains_itself_is_invalid_schema():
    loop: dict = {}
    loop["again"] = loop
    flow = minimal_flow()
    flow["nodes"][2]["data"]["value"] = loop
    assert _codes(flow) == ["invalid_schema"]


@pytest.mark.parametrize(
    "root", [None, 0, 1.5, True, [], "[]", [minimal_flow()], b"[]", b'"flow"', b"null"]
)
def test_a_root_that_is_not_an_object(root):
    assert _codes(root) == ["invalid_schema"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b"{'single': 'quotes'}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": 1} trailing',
        b"\xff\xfe\x00{",
        b'{"name": "\xc3\x28"}',
        b'{"n": ' + b"9" * 5000 + b"}",
    ],
)
def test_unreadable_json_is_invalid_json(raw):
    assert _codes(raw) == ["invalid_json"]


@pytest.mark.parametrize("text", ["", "{", '{"a": NaN}', "[1, 2", "text", '"\\ud800"'])
def test_unreadable_json_text_is_invalid_json(text):
    assert _codes(text) in (["invalid_json"], ["invalid_schema"])
    assert _codes(text)[0] == "invalid_json" or text.startswith('"')


def test_a_utf8_bom_is_accepted():
    assert compile_flow(b"\xef\xbb\xbf" + json.dumps(minimal_flow()).encode()).ok


def test_a_huge_float_is_invalid_schema():
    raw = json.dumps(minimal_flow()).replace('"model": "scai-large"', '"model": 1e400')
    assert _codes(raw) == ["invalid_schema"]


def test_a_lone_surrogate_is_invalid_schema():
    raw = json.dumps(minimal_flow()).replace("Answer: ", "Answer \\ud800 ")
    result = compile_flow(raw)
    assert [(d.code, d.path) for d in result.diagnostics] == [
        ("invalid_schema", "/nodes/1/data/prompt")
    ]
    json.dumps(result.as_dict(), ensure_ascii=False).encode("utf-8")


WRONG_TYPES = [
    ("name", 5),
    ("name", ""),
    ("config", []),
    ("config", {"llm_roles": []}),
    ("config", {"llm_roles": {"writer": "scai-large"}}),
    ("config", {"llm_roles": {"writer": {"model": {1, 2}}}}),
    ("config", {"publish_as_model": "yes", "llm_roles": {"writer": {}}}),
    ("config", {"group_ids": [1, None], "llm_roles": {"writer": {}}}),
    ("config", {"scaiqueue": [], "llm_roles": {"writer": {}}}),
    ("config", {"scaiqueue": {"scope": {"slug": 3}}, "llm_roles": {"writer": {}}}),
    ("config", {"scaiqueue": {"scope": {"slug": "s"}, "queues": {}}, "llm_roles": {"writer": {}}}),
    ("nodes", "start"),
    ("nodes", None),
    ("edges", {"source": "start"}),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TYPES)
def test_wrong_types_at_the_top_are_invalid_schema(key, value):
    flow = minimal_flow()
    flow[key] = value
    result = compile_flow(flow)
    assert not result.ok
    assert "invalid_schema" in {d.code for d in result.diagnostics}


NODE_PROBLEMS = [
    5,
    None,
    "node",
    [],
    {"id": 5, "kind": "output", "data": {"value": "x"}},
    {"id": None, "kind": "output"},
    {"id": ["a"], "kind": "output"},
    {"id": "", "kind": "output"},
    {"id": "a b", "kind": "output"},
    {"id": "a.b", "kind": "output"},
    {"id": "nul\x00id", "kind": "output"},
    {"id": "x" * 500, "kind": "output"},
    {"id": "x", "kind": 7},
    {"id": "x", "kind": "output", "data": []},
    {"id": "x", "kind": "output", "data": {"value": b"bytes"}},
    {"id": "x", "kind": "output", "data": {"value": {1: "int key"}}},
    {"id": "x", "kind": "output", "data": {"value": 10**5000}},
    {"id": "x", "kind": "output", "data": {"value": float("nan")}},
    {"id": "x", "kind": "output", "data": {"value": object()}},
    {"id": "x", "kind": "output", "data": {"value": "v"}, "position": "top"},
    {"id": "x", "kind": "trigger", "data": {"type": "telepathy"}},
    {"id": "x", "kind": "trigger", "data": {"type": "schedule", "schedule": "often"}},
    {"id": "x", "kind": "llm", "data": {"role": ["writer"], "prompt": None}},
    {"id": "x", "kind": "llm", "data": {"role": "writer", "prompt": "p", "output": "two words"}},
    {"id": "x", "kind": "plugin", "data": {"plugin": 5, "args": "url=x"}},
    {"id": "x", "kind": "branch", "data": {"cases": "yes"}},
    {"id": "x", "kind": "branch", "data": {"cases": [5, {"when": 1, "handle": "default"}]}},
    {"id": "x", "kind": "branch", "data": {"cases": [{"when": "a", "handle": "h"}] * 2}},
    {"id": "x", "kind": "transform", "data": {"set": {"v": 5}}},
    {"id": "x", "kind": "transform", "data": {"set": []}},
    {"id": "x", "kind": "queue", "data": {"scope": "", "queue": None, "title": 5}},
    {"id": "x", "kind": "output", "data": {}},
]


@pytest.mark.parametrize("bad", NODE_PROBLEMS, ids=range(len(NODE_PROBLEMS)))
def test_wrong_types_in_nodes_are_diagnostics(bad):
    flow = minimal_flow()
    flow["nodes"].append(bad)
    result = compile_flow(flow)
    assert not result.ok
    assert "invalid_schema" in {d.code for d in result.diagnostics}
    json.dumps(result.as_dict())


EDGE_PROBLEMS = [
    5,
    "start->ask",
    {"source": 5, "target": "ask"},
    {"source": "ask"},
    {"source": "start", "target": ["ask"]},
    {"source": "start", "target": "ask", "source_handle": 5},
    {"source": "reply", "target": "ask"},
    {"source": "ask", "target": "start"},
]


@pytest.mark.parametrize("bad", EDGE_PROBLEMS, ids=range(len(EDGE_PROBLEMS)))
def test_wrong_edges_are_diagnostics(bad):
    flow = minimal_flow()
    flow["edges"].append(bad)
    assert "invalid_schema" in _codes(flow)


def test_unicode_ids_and_text_compile_and_read_back():
    flow = {
        "name": "Überprüfung 日本 🚀",
        "config": {"llm_roles": {"rôle": {"model": "m"}}},
        "nodes": [
            node("début", "trigger", type="chat"),
            node("步骤", "llm", role="rôle", prompt="Ünïcödé\u2028line\u0085next 🚀 {{début.msg}}"),
            node("fin", "output", value="nul\x00byte and tab\t and bell\x07"),
        ],
        "edges": [edge("début", "步骤"), edge("步骤", "fin")],
    }
    result = compile_flow(json.dumps(flow, ensure_ascii=False).encode("utf-8"))
    assert result.ok, result.diagnostics
    manifest = yaml.safe_load(result.manifest)
    assert manifest["metadata"] == {"name": flow["name"], "slug": "uberprufung"}
    blocks = manifest["spec"]["blocks"]
    assert blocks[1]["config"]["prompt"] == flow["nodes"][1]["data"]["prompt"]
    assert blocks[2]["config"]["value"] == "nul\x00byte and tab\t and bell\x07"


def test_duplicate_and_repeated_edges_are_harmless():
    flow = minimal_flow()
    flow["edges"] = flow["edges"] * 3
    result = compile_flow(flow)
    assert result.ok
    assert result.ir.blocks[0].next == ("ask",)


def test_max_bytes_applies_to_raw_sources_only():
    raw = json.dumps(minimal_flow())
    assert compile_flow(raw, max_bytes=len(raw)).ok
    assert _codes(raw, max_bytes=len(raw) - 1) == ["flow_too_large"]
    assert _codes(raw.encode(), max_bytes=len(raw) - 1) == ["flow_too_large"]
    assert compile_flow(json.loads(raw), max_bytes=10).ok
    text = json.dumps(minimal_flow() | {"name": "é" * 1000}, ensure_ascii=False)
    assert _codes(text, max_bytes=len(text) + 500) == ["flow_too_large"]
