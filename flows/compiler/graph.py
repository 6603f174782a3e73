"""Graph algorithms over nodes numbered 0..n-1, shared by the front end and the verifier.

All of them are iterative (no recursion on the depth of the graph) and linear or n·log n in the
number of nodes and edges, except the ancestor check of `unreachable_ancestors`, which costs
(n + e) word operations per 64 distinct referenced nodes (big-integer bit sets).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any


def topological_order(
    successors: Sequence[Sequence[int]], keys: Sequence[Any]
) -> tuple[list[int], list[int]]:
    """Kahn's algorithm; among ready nodes the smallest `keys[i]` comes first.

    Returns (order, rest): `rest` holds the nodes on a cycle or downstream of one, in index
    order; it is empty exactly when the graph is acyclic.
    """
    count = len(successors)
    indegree = [0] * count
    for targets in successors:
        for target in targets:
            indegree[target] += 1
    ready = [(keys[node], node) for node in range(count) if indegree[node] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        node = heapq.heappop(ready)[1]
        order.append(node)
        for target in successors[node]:
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, (keys[target], target))
    if len(order) == count:
        return order, []
    return order, [node for node in range(count) if indegree[node] > 0]


def cyclic_components(nodes: Sequence[int], successors: Sequence[Sequence[int]]) -> list[list[int]]:
    """The strongly connected components among `nodes` that hold a cycle (Tarjan, iterative).

    Each component is sorted by node index; components come in order of their first node.
    """
    inside = set(nodes)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work[-1]
            if position == 0 and node not in index:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = successors[node]
            descended = False
            while position < len(targets):
                target = targets[position]
                position += 1
                if target not in inside:
                    continue
                if target not in index:
                    work[-1] = (node, position)
                    work.append((target, 0))
                    descended = True
                    break
                if target in on_stack and index[target] < low[node]:
                    low[node] = index[target]
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in successors[node]:
                    components.append(sorted(component))
    components.sort(key=lambda component: component[0])
    return components


def reachable_from(starts: Sequence[int], successors: Sequence[Sequence[int]]) -> bytearray:
    """A flag per node: 1 when some start reaches it (starts included)."""
    seen = bytearray(len(successors))
    frontier = list(starts)
    for node in frontier:
        seen[node] = 1
    while frontier:
        node = frontier.pop()
        for target in successors[node]:
            if not seen[target]:
                seen[target] = 1
                frontier.append(target)
    return seen


def predecessors_of(successors: Sequence[Sequence[int]]) -> list[list[int]]:
    predecessors: list[list[int]] = [[] for _ in successors]
    for node, targets in enumerate(successors):
        for target in targets:
            predecessors[target].append(node)
    return predecessors


def non_ancestor_queries(
    order: Sequence[int],
    successors: Sequence[Sequence[int]],
    queries: Sequence[tuple[int, int]],
) -> list[int]:
    """Indexes of the queries (node, target) where `target` is not an ancestor of `node`.

    `order` must be a complete topological order (the graph acyclic). Most references name a
    parent or a root the node descends from; those are answered directly. The rest use bit
    sets: each node's ancestors among the remaining targets, one bit per target in a Python
    int, dropped once all the node's children have been visited (memory follows the width).
    """
    if not queries:
        return []
    count = len(successors)
    predecessors = predecessors_of(successors)
    # A node with no predecessors (a root) is an ancestor of everything it reaches.
    root_of = [-1] * count
    for node in order:
        parents = predecessors[node]
        if not parents:
            root_of[node] = node
        else:
            first = root_of[parents[0]]
            root_of[node] = first if all(root_of[parent] == first for parent in parents) else -2
    bit_of: dict[int, int] = {}
    by_node: dict[int, list[int]] = {}
    parent_sets: dict[int, set[int]] = {}
    for number, (node, target) in enumerate(queries):
        if node == target:
            continue  # never its own ancestor: fails below
        if target == root_of[node]:
            continue
        parents = predecessors[node]
        if len(parents) > 8:
            parents = parent_sets.get(node) or parent_sets.setdefault(node, set(parents))
        if target in parents:
            continue
        if target not in bit_of:
            bit_of[target] = len(bit_of)
        by_node.setdefault(node, []).append(number)
    failing = [number for number, (node, target) in enumerate(queries) if node == target]
    if bit_of:
        failing.extend(_bitset_failures(order, predecessors, successors, queries, bit_of, by_node))
    failing.sort()
    return failing


def _bitset_failures(order, predecessors, successors, queries, bit_of, by_node) -> list[int]:
    children_left = [len(targets) for targets in successors]
    ancestors = [0] * len(successors)
    failing: list[int] = []
    for node in order:
        bits = 0
        for parent in predecessors[node]:
            bits |= ancestors[parent]
            bit = bit_of.get(parent)
            if bit is not None:
                bits |= 1 << bit
            children_left[parent] -= 1
            if children_left[parent] == 0:
                ancestors[parent] = 0
        if children_left[node]:
            ancestors[node] = bits
        for number in by_node.get(node, ()):
            if not bits >> bit_of[queries[number][1]] & 1:
                failing.append(number)
    return failing
