"""Stage 2: validate a parsed FlowGraph — its shape, its graph and its references.

`validate(value, catalog)` reports every problem it finds in one pass (never only the first)
and, when there is no error, returns a `CheckedFlow`: the nodes with their frozen config, the
edges resolved to node numbers, and a topological order (ties broken by id, the trigger first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from . import diagnostics as d
from .catalog import Catalog, check_args
from .diagnostics import Diagnostic, escape_token, quote, type_name
from .flowconfig import FlowConfig, check_flow_config
from .graph import cyclic_components, non_ancestor_queries, reachable_from, topological_order
from .ir import ScaiQueueDecl
from .kinds import (
    BRANCH,
    CONFIG_FIELDS,
    DEFAULT_HANDLE,
    ID_RULE,
    KIND_SET,
    KINDS,
    LLM,
    OUTPUT,
    PLUGIN,
    QUEUE,
    TRIGGER,
    check_cases,
    check_fields,
    is_valid_id,
)
from .values import EMPTY_MAP, Reference, references_in, scan, string_problem

_MAX_LISTED = 10
_NUMBERS = (int, float)
# Shared empty values: most nodes have no cases or handles, leaves have no edges.
_NO_CASES: tuple[tuple[str, str], ...] = ()
_NO_HANDLES: frozenset[str] = frozenset()
_NO_EDGES: Mapping[str | None, list[int]] = MappingProxyType({})


class CheckedNode:
    """A node that passed validation; `index` is its position in the FlowGraph's nodes."""

    __slots__ = ("cases", "config", "handles", "id", "index", "kind", "outgoing")

    def __init__(self, index: int, node_id: str, kind: str | None):
        self.index = index
        self.id = node_id
        self.kind = kind
        self.config: Mapping[str, Any] = EMPTY_MAP
        self.cases: Sequence[tuple[str, str]] = _NO_CASES
        self.handles: Set[str] = _NO_HANDLES
        # Outgoing edges by handle (None for a plain edge): target node numbers, in edge order.
        self.outgoing: Mapping[str | None, list[int]] = _NO_EDGES


@dataclass(slots=True)
class CheckedFlow:
    name: str
    llm_roles: Mapping[str, Any]
    scaiqueue: ScaiQueueDecl | None
    publish_as_model: bool
    group_ids: tuple[str, ...]
    nodes: list[CheckedNode]
    order: list[int]
    entry: int


class _Validator:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        self.config = FlowConfig()
        self.nodes: list[CheckedNode] = []
        self.ids: dict[str, int] = {}
        self.references: list[tuple[int, Reference]] = []

    def report(self, code: str, message: str, path: str | None, node_id: str | None = None):
        self.diagnostics.append(d.make(code, message, node_id=node_id, path=path))

    def schema(self, message: str, path: str | None, node_id: str | None = None):
        self.report(d.INVALID_SCHEMA, message, path, node_id)

    def frozen(self, value: Any, path: str, node_id: str | None, refs=None) -> Any:
        problems: list[tuple[str, str]] = []
        frozen = scan(value, path, refs, problems)
        for problem_path, message in problems:
            self.schema(message, problem_path, node_id)
        return frozen

    # --- nodes -------------------------------------------------------------------------------

    def check_nodes(self, nodes: list[Any]) -> None:
        for index, node in enumerate(nodes):
            base = f"/nodes/{index}"
            if type(node) is not dict and not isinstance(node, Mapping):
                self.schema(f"a node must be an object, not {type_name(node)}", base)
                continue
            node_id = node.get("id")
            if not is_valid_id(node_id):
                self.schema(f"a node 'id' must be a string of {ID_RULE}", f"{base}/id")
                continue
            if node_id in self.ids:
                self.report(
                    d.DUPLICATE_NODE_ID,
                    f"node id {quote(node_id)} is already used by node {self.first_index(node_id)}",
                    f"{base}/id",
                    node_id,
                )
                continue
            kind = node.get("kind")
            if type(kind) is not str:
                self.schema(f"'kind' must be one of {', '.join(KINDS)}", f"{base}/kind", node_id)
                kind = None
            elif kind not in KIND_SET:
                self.report(
                    d.UNKNOWN_BLOCK_KIND,
                    f"unknown block kind {quote(kind)}; expected one of {', '.join(KINDS)}",
                    f"{base}/kind",
                    node_id,
                )
                kind = None
            checked = CheckedNode(index, node_id, kind)
            self.ids[node_id] = len(self.nodes)
            self.nodes.append(checked)
            position = node.get("position")
            if position is not None and not (
                isinstance(position, Mapping)
                and type(position.get("x")) in _NUMBERS
                and type(position.get("y")) in _NUMBERS
            ):
                self.schema("'position' must be an object with numbers x and y", f"{base}/position")
            data = node.get("data")
            if data is None:
                data = EMPTY_MAP
            elif type(data) is not dict and not isinstance(data, Mapping):
                self.schema(f"'data' must be an object, not {type_name(data)}", f"{base}/data")
                continue
            if kind is not None:
                self.check_data(checked, data, f"{base}/data")

    def first_index(self, node_id: str) -> int:
        return self.nodes[self.ids[node_id]].index

    def check_data(self, node: CheckedNode, data: Mapping[str, Any], base: str) -> None:
        node_id, kind = node.id, node.kind
        for path, message in check_fields(kind, data, base):
            self.schema(message, path, node_id)
        refs: list[Reference] = []
        fields = {}
        for name in CONFIG_FIELDS[kind]:
            value = data.get(name)
            if value is not None:
                fields[name] = value
        if kind == TRIGGER and data.get("type") != "schedule":
            fields.pop("schedule", None)
        node.config = self.frozen(fields, base, node_id, refs)
        if kind == BRANCH:
            problems, node.cases, node.handles = check_cases(data.get("cases"), base)
            for path, message in problems:
                self.schema(message, path, node_id)
            for number, (when, _handle) in enumerate(node.cases):
                if "{{" in when:
                    references_in(when, f"{base}/cases/{number}/when", refs)
        elif kind == LLM:
            role = node.config.get("role")
            if type(role) is str and role not in self.config.llm_roles:
                self.report(
                    d.UNDECLARED_LLM_ROLE,
                    f"LLM role {quote(role)} is not declared in config.llm_roles",
                    f"{base}/role",
                    node_id,
                )
        elif kind == PLUGIN:
            self.check_plugin(node, base)
        elif kind == QUEUE:
            self.check_queue(node, base)
        graph_index = self.ids[node_id]
        self.references.extend((graph_index, ref) for ref in refs)

    def check_plugin(self, node: CheckedNode, base: str) -> None:
        name = node.config.get("plugin")
        if type(name) is not str or not name:
            return
        spec = self.catalog.get(name)
        if spec is None:
            self.report(
                d.UNKNOWN_PLUGIN,
                f"plugin {quote(name)} is not in the plugin catalog",
                f"{base}/plugin",
                node.id,
            )
            return
        args = node.config.get("args", EMPTY_MAP)
        if not isinstance(args, Mapping):
            return
        for code, arg, message in check_args(spec, args):
            path = f"{base}/args/{escape_token(arg)}" if arg is not None else f"{base}/args"
            self.report(code, message, path, node.id)

    def check_queue(self, node: CheckedNode, base: str) -> None:
        if self.config.scaiqueue is None:
            return
        scope, queue = node.config.get("scope"), node.config.get("queue")
        declared = self.config.scaiqueue
        if type(scope) is str and scope != declared.scope.slug:
            self.report(
                d.UNDECLARED_QUEUE,
                f"scope {quote(scope)} is not the scope declared in config.scaiqueue",
                f"{base}/scope",
                node.id,
            )
        elif type(queue) is str and queue not in self.config.queue_slugs:
            self.report(
                d.UNDECLARED_QUEUE,
                f"queue {quote(queue)} is not declared in config.scaiqueue.queues",
                f"{base}/queue",
                node.id,
            )

    # --- edges -------------------------------------------------------------------------------

    def check_edges(self, edges: list[Any]) -> list[list[int]]:
        nodes, ids = self.nodes, self.ids
        successors: list[list[int]] = [[] for _ in nodes]
        seen: set[tuple[int, str | None, int]] = set()
        for index, edge in enumerate(edges):
            base = f"/edges/{index}"
            if not isinstance(edge, Mapping):
                self.schema(f"an edge must be an object, not {type_name(edge)}", base)
                continue
            source, target = edge.get("source"), edge.get("target")
            handle = edge.get("source_handle")
            ok = True
            for end, value in (("source", source), ("target", target)):
                if type(value) is not str:
                    self.schema(f"edge {end} must be a node id string", f"{base}/{end}")
                    ok = False
                elif value not in ids:
                    self.report(
                        d.DANGLING_EDGE, f"edge {end} {quote(value)} is not a node", f"{base}/{end}"
                    )
                    ok = False
            if handle is not None and type(handle) is not str:
                self.schema("'source_handle' must be a string or null", f"{base}/source_handle")
                ok = False
            if not ok:
                continue
            source_number, target_number = ids[source], ids[target]
            source_kind = nodes[source_number].kind
            if source_kind == OUTPUT:
                self.schema("an output block has no outgoing edges", base, source)
                continue
            if nodes[target_number].kind == TRIGGER:
                self.schema("a trigger block has no incoming edges", f"{base}/target", target)
                continue
            if source_kind == BRANCH:
                if handle != DEFAULT_HANDLE and handle not in nodes[source_number].handles:
                    self.report(
                        d.UNKNOWN_HANDLE,
                        f"branch {quote(source)} has no case with handle {quote(handle)}"
                        if handle is not None
                        else f"an edge from branch {quote(source)} must name a case's handle"
                        " or 'default'",
                        f"{base}/source_handle",
                        source,
                    )
                    continue
            elif handle and source_kind is not None:
                self.report(
                    d.UNKNOWN_HANDLE,
                    f"only branch blocks have handles; {quote(source)} is a {source_kind} block",
                    f"{base}/source_handle",
                    source,
                )
                continue
            else:
                handle = None
            key = (source_number, handle, target_number)
            if key in seen:
                continue
            seen.add(key)
            outgoing = nodes[source_number].outgoing
            if outgoing is _NO_EDGES:
                outgoing = nodes[source_number].outgoing = {}
            outgoing.setdefault(handle, []).append(target_number)
            successors[source_number].append(target_number)
        return successors

    # --- the graph as a whole ----------------------------------------------------------------

    def check_graph(self, successors: list[list[int]]) -> list[int] | None:
        """Triggers, outputs, cycles, reachability; the topological order when acyclic."""
        nodes = self.nodes
        triggers = [number for number, node in enumerate(nodes) if node.kind == TRIGGER]
        if not triggers:
            self.report(d.MISSING_TRIGGER, "the flow has no trigger block", "/nodes")
        for number in triggers[1:]:
            node = nodes[number]
            self.report(
                d.MULTIPLE_TRIGGERS,
                f"a flow has one trigger; {quote(nodes[triggers[0]].id)} is already one",
                f"/nodes/{node.index}",
                node.id,
            )
        if not any(node.kind == OUTPUT for node in nodes):
            self.report(d.NO_OUTPUT, "the flow has no output block", "/nodes")
        keys = [(0 if node.kind == TRIGGER else 1, node.id) for node in nodes]
        order, rest = topological_order(successors, keys)
        for component in cyclic_components(rest, successors) if rest else ():
            listed = ", ".join(quote(nodes[number].id) for number in component[:_MAX_LISTED])
            more = len(component) - _MAX_LISTED
            first = nodes[component[0]]
            self.report(
                d.CYCLE,
                f"these blocks form a cycle: {listed}" + (f" and {more} more" if more > 0 else ""),
                f"/nodes/{first.index}",
                first.id,
            )
        if triggers:
            reached = reachable_from(triggers, successors)
            for number, node in enumerate(nodes):
                if not reached[number]:
                    self.report(
                        d.UNREACHABLE_NODE,
                        f"block {quote(node.id)} cannot be reached from the trigger",
                        f"/nodes/{node.index}",
                        node.id,
                    )
        return None if rest else order

    def check_references(self, order: list[int] | None, successors: list[list[int]]) -> None:
        nodes, ids = self.nodes, self.ids
        queries: list[tuple[int, int]] = []
        asked: list[Reference] = []
        for number, ref in self.references:
            owner = nodes[number].id
            if ref.node_id is None:
                self.report(
                    d.UNKNOWN_REFERENCE,
                    f"malformed reference {quote(ref.text)}: expected {{{{node_id.field}}}}",
                    ref.path,
                    owner,
                )
            elif ref.node_id not in ids:
                self.report(
                    d.UNKNOWN_REFERENCE,
                    f"{quote(ref.text)} refers to {quote(ref.node_id)}, which is not a node",
                    ref.path,
                    owner,
                )
            elif order is not None:
                queries.append((number, ids[ref.node_id]))
                asked.append(ref)
        for failing in non_ancestor_queries(order or [], successors, queries):
            ref, owner = asked[failing], nodes[queries[failing][0]].id
            self.report(
                d.UNKNOWN_REFERENCE,
                f"{quote(ref.text)} refers to {quote(ref.node_id)}, which does not come before"
                f" {quote(owner)}",
                ref.path,
                owner,
            )


def validate(value: Any, catalog: Catalog) -> tuple[CheckedFlow | None, list[Diagnostic]]:
    """Check a parsed FlowGraph. The flow is None when any error-severity problem was found."""
    validator = _Validator(catalog)
    if not isinstance(value, Mapping):
        validator.schema(f"a flow must be a JSON object, not {type_name(value)}", "")
        return None, validator.diagnostics
    name = value.get("name")
    if type(name) is not str or not name.strip() or string_problem(name):
        validator.schema("'name' must be a non-empty string", "/name")
    validator.config = check_flow_config(value.get("config"))
    for path, message in validator.config.problems:
        validator.schema(message, path)
    nodes = value.get("nodes")
    edges = value.get("edges")
    if edges is None:
        edges = []
    elif not isinstance(edges, list):
        validator.schema(f"'edges' must be an array, not {type_name(edges)}", "/edges")
        edges = []
    if not isinstance(nodes, list):
        validator.schema("'nodes' must be an array of blocks", "/nodes")
        return None, validator.diagnostics
    validator.check_nodes(nodes)
    successors = validator.check_edges(edges)
    order = validator.check_graph(successors)
    validator.check_references(order, successors)
    diagnostics = validator.diagnostics
    if order is None or any(diagnostic.is_error for diagnostic in diagnostics):
        return None, diagnostics
    entry = next(number for number in order if validator.nodes[number].kind == TRIGGER)
    flow = CheckedFlow(
        name=name,
        llm_roles=validator.config.llm_roles,
        scaiqueue=validator.config.scaiqueue,
        publish_as_model=validator.config.publish_as_model,
        group_ids=validator.config.group_ids,
        nodes=validator.nodes,
        order=order,
        entry=entry,
    )
    return flow, diagnostics
