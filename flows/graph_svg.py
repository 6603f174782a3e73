"""A server-rendered SVG picture of a FlowGraph, for the admin.

Nodes sit at their canvas `position`; nodes without one are laid out below the placed ones,
in columns by their depth in the graph (rows in their order), so the same graph always draws
the same. The picture scales to the width of its box (a viewBox, never clipped). Edges that a
straight line would draw across another node go around it; a branch's edges carry their
case's handle or `default`. Kinds differ by colour and shape, nodes with diagnostics get a red
outline and a "!" mark. Every piece of text from the graph is escaped: the picture is safe to
inline.
"""

from __future__ import annotations

import itertools
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


def _depths(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, int]:
    """Each node's column: the longest edge path to it from a node without incoming edges, in
    topological order (a cycle is entered at its first node in graph order)."""
    ids = [str(node.get("id")) for node in nodes]
    successors: dict[str, list[str]] = {node_id: [] for node_id in ids}
    pending = dict.fromkeys(ids, 0)
    for edge in edges:
        source, target = str(edge.get("source")), str(edge.get("target"))
        if source in successors and target in successors and source != target:
            successors[source].append(target)
            pending[target] += 1
    depth = dict.fromkeys(ids, 0)
    done: set[str] = set()
    while len(done) < len(ids):
        ready = [node_id for node_id in ids if node_id not in done and pending[node_id] <= 0]
        ready = ready or [next(node_id for node_id in ids if node_id not in done)]
        queue = ready
        while queue:
            node_id = queue.pop()
            if node_id in done:
                continue
            done.add(node_id)
            for nxt in successors[node_id]:
                if nxt not in done:
                    depth[nxt] = max(depth[nxt], depth[node_id] + 1)
                    pending[nxt] -= 1
                    if pending[nxt] <= 0:
                        queue.append(nxt)
    return depth


def node_positions(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = ()
) -> dict[str, tuple[float, float]]:
    """Each node id's top-left corner: its own position, else a slot below the placed nodes,
    in the column of its depth in the graph."""
    out: dict[str, tuple[float, float]] = {}
    missing = []
    for node in nodes:
        pos = node.get("position") if isinstance(node.get("position"), dict) else {}
        x, y = _num(pos.get("x")), _num(pos.get("y"))
        if x is None or y is None:
            missing.append(node)
        else:
            out[str(node.get("id"))] = (x, y)
    if not missing:
        return out
    depths = _depths(nodes, list(edges))
    base_y = max((y for _, y in out.values()), default=-GRID_Y) + GRID_Y
    rows: dict[int, int] = {}
    for node in missing:
        node_id = str(node.get("id"))
        column = depths[node_id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        out[node_id] = (float(column * GRID_X), base_y + row * GRID_Y)
    return out


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _crosses(x1: float, y1: float, x2: float, y2: float, box: Box) -> bool:
    """Whether the segment passes through the box (Liang-Barsky clipping)."""
    left, top, right, bottom = box
    dx, dy = x2 - x1, y2 - y1
    low, high = 0.0, 1.0
    for p, q in ((-dx, x1 - left), (dx, right - x1), (-dy, y1 - top), (dy, bottom - y1)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


def _hits(points: list[tuple[float, float]], boxes: list[Box]) -> int:
    return sum(_crosses(*a, *b, box) for a, b in itertools.pairwise(points) for box in boxes)


def edge_route(
    start: tuple[float, float], end: tuple[float, float], obstacles: list[Box]
) -> list[tuple[float, float]]:
    """The points of an edge: straight when nothing is in the way, else an elbow, else a
    detour above or below what is in the way; the one crossing fewest nodes."""
    (x1, y1), (x2, y2) = start, end
    margin = 12
    candidates = [[start, end]]
    mid_x = (x1 + x2) / 2
    candidates.append([start, (mid_x, y1), (mid_x, y2), end])
    in_way = [box for box in obstacles if _crosses(x1, y1, x2, y2, box)] or obstacles
    if in_way:
        above = min(box[1] for box in in_way) - margin
        below = max(box[3] for box in in_way) + margin
        for lane in (above, below):
            out_x, in_x = x1 + margin, x2 - margin
            candidates.append([start, (out_x, y1), (out_x, lane), (in_x, lane), (in_x, y2), end])
    return min(candidates, key=lambda points: (_hits(points, obstacles), len(points)))


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

    positions = node_positions(nodes, edges)
    xs = [x for x, _ in positions.values()] or [0.0]
    ys = [y for _, y in positions.values()] or [0.0]
    min_x, min_y = min(xs) - PAD, min(ys) - PAD
    width = max(xs) + NODE_W + PAD - min_x
    height = max(ys) + NODE_H + PAD - min_y
    boxes = {node_id: (x, y, x + NODE_W, y + NODE_H) for node_id, (x, y) in positions.items()}
    # Its own size, scaled down to its box's width by the admin's stylesheet (max-width: 100%):
    # the viewBox keeps it whole. No style attribute: the Content-Security-Policy refuses them.
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" role="img" '
        f'aria-label="Flow graph" viewBox="{min_x} {min_y} {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet" width="{width}" '
        f'font-family="sans-serif" font-size="12">',
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
        others = [box for node_id, box in boxes.items() if node_id not in (source, target)]
        points = edge_route((x1, y1), (x2, y2), others)
        path = " ".join(f"{'M' if i == 0 else 'L'}{x},{y}" for i, (x, y) in enumerate(points))
        parts.append(
            f'<g class="edge" data-source="{escape(source)}" data-target="{escape(target)}">'
            f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.5" '
            f'marker-end="url(#arrow)"/>'
        )
        # FlowGraph names a branch's case `source_handle` ("default" for the rest); canvases
        # may send camelCase.
        handles = [
            str(edge[key])
            for key in ("source_handle", "sourceHandle", "targetHandle")
            if edge.get(key)
        ]
        if handles:
            # On the longest segment, a little above it.
            a, b = max(
                itertools.pairwise(points),
                key=lambda seg: abs(seg[1][0] - seg[0][0]) + abs(seg[1][1] - seg[0][1]),
            )
            parts.append(
                f'<text class="handle" x="{(a[0] + b[0]) / 2}" y="{(a[1] + b[1]) / 2 - 4}" '
                f'text-anchor="middle" fill="#333" stroke="#fff" stroke-width="3" '
                f'paint-order="stroke">{escape(" → ".join(handles))}</text>'
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
