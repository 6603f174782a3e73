"""The flow graph picture: positions, layout of unplaced nodes, kinds, handles, diagnostics,
and escaping."""

from __future__ import annotations

import itertools
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
    # Below the placed ones; unconnected, both in the first column, one under the other.
    assert first["b"] == (0.0, 200 + GRID_Y) and first["c"] == (0.0, 200 + 2 * GRID_Y)


def test_unplaced_nodes_stand_in_columns_by_depth():
    nodes = [{"id": name, "kind": "llm"} for name in ("a", "b", "c", "d")]
    edges = [
        {"source": "a", "target": "b"},
        {"source": "a", "target": "c"},
        {"source": "b", "target": "d"},
        {"source": "c", "target": "d"},
        {"source": "d", "target": "a"},  # a cycle does not make it loop
    ]
    positions = node_positions(nodes, edges)
    assert positions["a"][0] < positions["b"][0] == positions["c"][0] < positions["d"][0]
    assert positions["b"][1] != positions["c"][1]


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


def _segments(path: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    points = [tuple(float(v) for v in step[1:].split(",")) for step in path.split()]
    return list(itertools.pairwise(points))


def test_support_triage_edges_go_around_other_nodes_and_branches_are_labelled():
    import json
    from pathlib import Path

    from flows.graph_svg import NODE_H, NODE_W, _crosses

    content = json.loads(
        (Path(__file__).resolve().parents[2] / "examples/support-triage.flow.json").read_text()
    )
    root = parse(flow_graph_svg(content))
    boxes = {}
    for node in root.findall(f".//{NS}g[@data-node-id]"):
        shape = node.find(f"{NS}rect")
        if shape is not None:
            x, y = float(shape.get("x")), float(shape.get("y"))
            boxes[node.get("data-node-id")] = (x, y, x + NODE_W, y + NODE_H)
    edges = root.findall(f".//{NS}g[@class='edge']")
    assert len(edges) == len(content["edges"])
    for edge in edges:
        ends = {edge.get("data-source"), edge.get("data-target")}
        for a, b in _segments(edge.find(f"{NS}path").get("d")):
            for node_id, box in boxes.items():
                assert node_id in ends or not _crosses(*a, *b, box), (ends, node_id)
    labels = {
        (e.get("data-source"), e.get("data-target")): e.find(f"{NS}text").text
        for e in edges
        if e.find(f"{NS}text") is not None
    }
    assert labels == {("route", "review"): "refund", ("route", "lookup"): "default"}


def test_an_edge_through_a_node_goes_around_it():
    content = {
        "nodes": [
            {"id": "a", "kind": "llm", "position": {"x": 0, "y": 0}},
            {"id": "m", "kind": "llm", "position": {"x": 220, "y": 0}},
            {"id": "b", "kind": "llm", "position": {"x": 440, "y": 0}},
        ],
        "edges": [{"source": "a", "target": "b"}],
    }
    from flows.graph_svg import NODE_H, NODE_W, _crosses

    path = parse(flow_graph_svg(content)).find(f".//{NS}g[@class='edge']/{NS}path").get("d")
    assert len(_segments(path)) > 1
    assert not any(_crosses(*a, *b, (220, 0, 220 + NODE_W, NODE_H)) for a, b in _segments(path))


def test_the_picture_scales_to_its_box():
    root = parse(flow_graph_svg({"nodes": [{"id": "a", "kind": "llm"}], "edges": []}))
    width = root.get("viewBox").split()[2]
    # Its own width, no height (the stylesheet scales it down, keeping the viewBox's ratio) and
    # no style attribute, which the Content-Security-Policy would refuse.
    assert root.get("width") == width and root.get("height") is None
    assert root.get("style") is None
