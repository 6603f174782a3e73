"""A server-rendered SVG picture of a FlowGraph, for the admin.

Nodes sit at their canvas `position`; nodes without one are laid out on a grid after the
placed ones, in their order, so the same graph always draws the same. Kinds differ by colour
and shape, edges carry their handle labels, nodes with diagnostics get a red outline and a
"!" mark. Every piece of text from the graph is escaped: the picture is safe to inline.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

NODE_W, NODE_H, PAD = 160, 48, 24
GRID_X, GRID_Y = 220, 110
KIND_STYLE = {
    "trigger": ("#2e7d32", "pill"),
    "llm": ("#1565c0", "rect"),
    "output": ("#6a1b9a", "pill"),
    "queue": ("#ef6c00", "rect"),
    "condition": ("#00838f", "diamond"),
}
DEFAULT_STYLE = ("#546e7a", "rect")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def node_positions(nodes: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Each node id's top-left corner: its own position, else the next free grid slot."""
    out: dict[str, tuple[float, float]] = {}
    missing = []
    for node in nodes:
        pos = node.get("position") if isinstance(node.get("position"), dict) else {}
        x, y = _num(pos.get("x")), _num(pos.get("y"))
        if x is None or y is None:
            missing.append(node)
        else:
            out[str(node.get("id"))] = (x, y)
    base_y = max((y for _, y in out.values()), default=-GRID_Y) + GRID_Y
    for i, node in enumerate(missing):
        out[str(node.get("id"))] = (float((i % 4) * GRID_X), base_y + (i // 4) * GRID_Y)
    return out


def _shape(kind_shape: str, x: float, y: float, colour: str, stroke: str, width: int) -> str:
    common = f'fill="{colour}" fill-opacity="0.15" stroke="{stroke}" stroke-width="{width}"'
    if kind_shape == "diamond":
        cx, cy = x + NODE_W / 2, y + NODE_H / 2
        points = f"{cx},{y} {x + NODE_W},{cy} {cx},{y + NODE_H} {x},{cy}"
        return f'<polygon points="{points}" {common}/>'
    radius = NODE_H / 2 if kind_shape == "pill" else 4
    return f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{radius}" {common}/>'


def flow_graph_svg(content: Any, diagnostics: Iterable[Any] = ()) -> str:
    """The SVG markup for FlowGraph `content`; `diagnostics` are Diagnostics or their dicts."""
    content = content if isinstance(content, dict) else {}
    nodes = [n for n in content.get("nodes") or [] if isinstance(n, dict)]
    edges = [e for e in content.get("edges") or [] if isinstance(e, dict)]
    flagged: dict[str, list[str]] = {}
    for diag in diagnostics:
        node_id = diag.get("node_id") if isinstance(diag, dict) else getattr(diag, "node_id", None)
        message = diag.get("message") if isinstance(diag, dict) else getattr(diag, "message", "")
        if node_id is not None:
            flagged.setdefault(str(node_id), []).append(str(message))

    positions = node_positions(nodes)
    xs = [x for x, _ in positions.values()] or [0.0]
    ys = [y for _, y in positions.values()] or [0.0]
    min_x, min_y = min(xs) - PAD, min(ys) - PAD
    width = max(xs) + NODE_W + PAD - min_x
    height = max(ys) + NODE_H + PAD - min_y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" role="img" '
        f'aria-label="Flow graph" viewBox="{min_x} {min_y} {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for edge in edges:
        source, target = str(edge.get("source")), str(edge.get("target"))
        if source not in positions or target not in positions:
            continue
        (sx, sy), (tx, ty) = positions[source], positions[target]
        x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H / 2, tx, ty + NODE_H / 2
        if tx <= sx:  # backwards or stacked: leave from the bottom, enter at the top
            x1, y1, x2, y2 = sx + NODE_W / 2, sy + NODE_H, tx + NODE_W / 2, ty
        parts.append(
            f'<g class="edge" data-source="{escape(source)}" data-target="{escape(target)}">'
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#555" '
            f'stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
        handles = [str(edge[key]) for key in ("sourceHandle", "targetHandle") if edge.get(key)]
        if handles:
            parts.append(
                f'<text class="handle" x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 4}" '
                f'text-anchor="middle" fill="#333">{escape(" → ".join(handles))}</text>'
            )
        parts.append("</g>")
    for node in nodes:
        node_id = str(node.get("id"))
        kind = str(node.get("kind", ""))
        colour, shape = KIND_STYLE.get(kind, DEFAULT_STYLE)
        x, y = positions[node_id]
        problems = flagged.get(node_id)
        stroke, stroke_width = ("#c62828", 3) if problems else (colour, 1.5)
        data = node.get("data") if isinstance(node.get("data"), dict) else {}
        label = str(data.get("label") or node.get("label") or node_id)
        classes = "node has-diagnostics" if problems else "node"
        parts.append(
            f'<g class="{classes}" data-node-id="{escape(node_id)}" data-kind="{escape(kind)}">'
        )
        if problems:
            parts.append(f"<title>{escape('; '.join(problems))}</title>")
        parts.append(_shape(shape, x, y, colour, stroke, stroke_width))
        parts.append(
            f'<text x="{x + NODE_W / 2}" y="{y + 20}" text-anchor="middle" '
            f'font-weight="bold" fill="#222">{escape(label[:40])}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 36}" text-anchor="middle" '
            f'fill="{colour}">{escape(kind)}</text>'
        )
        if problems:
            parts.append(
                f'<circle class="diagnostic-mark" cx="{x + NODE_W}" cy="{y}" r="9" '
                f'fill="#c62828"/><text x="{x + NODE_W}" y="{y + 4}" text-anchor="middle" '
                f'fill="#fff" font-weight="bold">!</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
