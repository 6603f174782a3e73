"""Small FlowGraph builders for the compiler tests."""

from __future__ import annotations

import copy
from typing import Any


def node(node_id: Any, kind: Any, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": kind, "data": data, "position": {"x": 0, "y": 0}}


def edge(source: Any, target: Any, handle: Any = None) -> dict[str, Any]:
    out = {"source": source, "target": target}
    if handle is not None:
        out["source_handle"] = handle
    return out


def minimal_flow() -> dict[str, Any]:
    """The smallest flow that compiles cleanly: trigger → llm → output."""
    return {
        "name": "Minimal",
        "config": {"llm_roles": {"writer": {"model": "scai-large"}}},
        "nodes": [
            node("start", "trigger", type="chat"),
            node("ask", "llm", role="writer", prompt="Answer: {{start.message}}", output="text"),
            node("reply", "output", value="{{ask.text}}"),
        ],
        "edges": [edge("start", "ask"), edge("ask", "reply")],
    }


def flow_with(*extra_nodes: dict, extra_edges: tuple = (), **config: Any) -> dict[str, Any]:
    """The minimal flow plus nodes hanging off `ask` (each with an edge ask → node)."""
    flow = copy.deepcopy(minimal_flow())
    flow["config"].update(config)
    for extra in extra_nodes:
        flow["nodes"].append(extra)
        flow["edges"].append(edge("ask", extra["id"]))
    flow["edges"].extend(extra_edges)
    return flow


def chain(size: int) -> dict[str, Any]:
    """trigger → (size - 2) transforms, each reading the one before → output."""
    nodes = [node("n0", "trigger", type="manual")]
    edges = []
    for number in range(1, size - 1):
        nodes.append(node(f"n{number}", "transform", set={"v": f"{{{{n{number - 1}.v}}}}"}))
        edges.append(edge(f"n{number - 1}", f"n{number}"))
    nodes.append(node(f"n{size - 1}", "output", value=f"{{{{n{size - 2}.v}}}}"))
    edges.append(edge(f"n{size - 2}", f"n{size - 1}"))
    return {"name": f"chain {size}", "nodes": nodes, "edges": edges}


def fan_out(width: int) -> dict[str, Any]:
    """trigger → width transforms in parallel → one output."""
    nodes = [node("start", "trigger", type="chat"), node("end", "output", value="{{w0.v}}")]
    edges = []
    for number in range(width):
        nodes.append(node(f"w{number}", "transform", set={"v": "{{start.message}}"}))
        edges.append(edge("start", f"w{number}"))
        edges.append(edge(f"w{number}", "end"))
    return {"name": f"fan-out {width}", "nodes": nodes, "edges": edges}
