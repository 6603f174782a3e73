"""The flow graph picture: positions, layout of unplaced nodes, kinds, handles, diagnostics,
and escaping."""

from __future__ import annotations

from xml.etree import ElementTree

from flows.compiler.diagnostics import Diagnostic
from flows.graph_svg import GRID_Y, flow_graph_svg, node_positions

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - our own output, parsed in a test


def test_nodes_sit_at_their_positions():
    svg = flow_graph_svg(
        {"nodes": [{"id": "a", "kind": "llm", "position": {"x": 100, "y": 50}}], "edges": []}
    )
    rect = parse(svg).find(f".//{NS}g[@data-node-id='a']/{NS}rect")
    assert (rect.get("x"), rect.get("y")) == ("100.0", "50.0")


def test_missing_positions_are_laid_out_deterministically_below():
    nodes = [
        {"id": "a", "kind": "llm", "position": {"x": 0, "y": 200}},
        {"id": "b", "kind": "llm"},
        {"id": "c", "kind": "llm", "position": {"x": "bad"}},
    ]
    first = node_positions(nodes)
    assert first == node_positions(nodes)
    assert first["b"][1] == 200 + GRID_Y and first["c"][1] == 200 + GRID_Y
    assert first["b"][0] != first["c"][0]


def test_kinds_differ_by_colour_and_shape():
    svg = parse(
        flow_graph_svg(
            {
                "nodes": [
                    {"id": "t", "kind": "trigger", "position": {"x": 0, "y": 0}},
                    {"id": "l", "kind": "llm", "position": {"x": 200, "y": 0}},
                    {"id": "c", "kind": "condition", "position": {"x": 400, "y": 0}},
                ],
                "edges": [],
            }
        )
    )
    trigger = svg.find(f".//{NS}g[@data-node-id='t']/{NS}rect")
    llm = svg.find(f".//{NS}g[@data-node-id='l']/{NS}rect")
    assert trigger.get("fill") != llm.get("fill") and trigger.get("rx") != llm.get("rx")
    assert svg.find(f".//{NS}g[@data-node-id='c']/{NS}polygon") is not None


def test_edges_carry_handle_labels():
    svg = flow_graph_svg(
        {
            "nodes": [{"id": "a", "kind": "condition"}, {"id": "b", "kind": "output"}],
            "edges": [{"source": "a", "target": "b", "sourceHandle": "true"}],
        }
    )
    label = parse(svg).find(f".//{NS}g[@class='edge']/{NS}text")
    assert label.text == "true"


def test_nodes_with_diagnostics_are_marked():
    svg = flow_graph_svg(
        {"nodes": [{"id": "a", "kind": "llm"}, {"id": "b", "kind": "llm"}], "edges": []},
        [Diagnostic(code="x", severity="error", message="role missing", node_id="a")],
    )
    root = parse(svg)
    marked = root.find(f".//{NS}g[@data-node-id='a']")
    assert "has-diagnostics" in marked.get("class")
    assert marked.find(f"{NS}title").text == "role missing"
    assert marked.find(f"{NS}circle[@class='diagnostic-mark']") is not None
    assert "has-diagnostics" not in root.find(f".//{NS}g[@data-node-id='b']").get("class")


def test_text_from_the_graph_is_escaped():
    evil = '"><script>alert(1)</script><x a="'
    svg = flow_graph_svg(
        {
            "nodes": [
                {"id": evil, "kind": evil, "data": {"label": "<b>&"}},
                {"id": "b", "kind": "llm"},
            ],
            "edges": [{"source": evil, "target": "b", "sourceHandle": "</text><script>"}],
        },
        [{"node_id": evil, "message": "<img src=x onerror=alert(1)>"}],
    )
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg
    root = parse(svg)  # still well-formed
    assert root.find(f".//{NS}g[@class='node has-diagnostics']").get("data-node-id") == evil


def test_garbage_content_draws_an_empty_picture():
    assert parse(flow_graph_svg(None)).tag == f"{NS}svg"
    assert parse(flow_graph_svg({"nodes": "x", "edges": [1, None]})).tag == f"{NS}svg"
