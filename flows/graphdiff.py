"""What changed between two FlowGraphs: nodes, edges, config, and their manifests.

Pure functions, no Django: the API's version diff (`flows.diff`) and the `scaiflow diff`
command both use them. Drafts may be malformed, so nothing here assumes the content is valid:
what is not a node or an edge is simply not compared.
"""

from __future__ import annotations

import difflib
from typing import Any


def _nodes(content: Any) -> dict[str, dict[str, Any]]:
    nodes = content.get("nodes") if isinstance(content, dict) else None
    if not isinstance(nodes, list):
        return {}
    return {
        node["id"]: node
        for node in nodes
        if isinstance(node, dict) and isinstance(node.get("id"), str)
    }


def _edges(content: Any) -> set[tuple[str, str | None, str]]:
    edges = content.get("edges") if isinstance(content, dict) else None
    if not isinstance(edges, list):
        return set()
    return {
        (str(edge.get("source")), edge.get("source_handle"), str(edge.get("target")))
        for edge in edges
        if isinstance(edge, dict) and isinstance(edge.get("source_handle"), str | None)
    }


def _config(content: Any) -> dict[str, Any]:
    config = content.get("config") if isinstance(content, dict) else None
    return config if isinstance(config, dict) else {}


def _changed_keys(before: Any, after: Any) -> list[str]:
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def _edge_dict(edge: tuple[str, str | None, str]) -> dict[str, Any]:
    source, handle, target = edge
    return {"source": source, "source_handle": handle, "target": target}


def content_diff(before: Any, after: Any) -> dict[str, Any]:
    """Nodes added, removed, changed (which `data` fields; kind) and moved (position only);
    edges added and removed; config keys added, removed and changed."""
    old_nodes, new_nodes = _nodes(before), _nodes(after)
    changed, moved = [], []
    for node_id in sorted(old_nodes.keys() & new_nodes.keys()):
        old, new = old_nodes[node_id], new_nodes[node_id]
        fields = _changed_keys(old.get("data"), new.get("data"))
        kind_changed = old.get("kind") != new.get("kind")
        if fields or kind_changed:
            entry: dict[str, Any] = {"id": node_id, "data_fields": fields}
            if kind_changed:
                entry["kind"] = {"from": old.get("kind"), "to": new.get("kind")}
            changed.append(entry)
        elif old.get("position") != new.get("position"):
            moved.append(node_id)
    old_edges, new_edges = _edges(before), _edges(after)
    edge_order = lambda edge: (edge[0], edge[1] or "", edge[2])  # noqa: E731
    old_config, new_config = _config(before), _config(after)
    return {
        "nodes": {
            "added": sorted(new_nodes.keys() - old_nodes.keys()),
            "removed": sorted(old_nodes.keys() - new_nodes.keys()),
            "changed": changed,
            "moved": moved,
        },
        "edges": {
            "added": [_edge_dict(e) for e in sorted(new_edges - old_edges, key=edge_order)],
            "removed": [_edge_dict(e) for e in sorted(old_edges - new_edges, key=edge_order)],
        },
        "config": {
            "added": sorted(new_config.keys() - old_config.keys()),
            "removed": sorted(old_config.keys() - new_config.keys()),
            "changed": sorted(
                key
                for key in old_config.keys() & new_config.keys()
                if old_config[key] != new_config[key]
            ),
        },
    }


def manifest_diff(before: str | None, after: str | None, *, labels: tuple[str, str]) -> str | None:
    """A unified diff of two manifests; None when either side did not compile."""
    if before is None or after is None:
        return None
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=labels[0],
        tofile=labels[1],
    )
    return "".join(lines)
