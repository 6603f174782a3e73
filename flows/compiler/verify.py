"""Stage 4: verify an IR on its own, without trusting the front end.

`verify(ir, catalog)` checks what a YAML loader would silently accept: block ids unique, kinds
in the closed set, one trigger and it is the entry, every `next`/case/default target a block,
no cycle, an output, each kind's config fields, declared LLM roles and queues, plugin args
against the catalog, template references to earlier blocks, and values that YAML can carry.
A hand-built IR gets the same diagnostics a FlowGraph would; paths come from each block's
`origin` (the FlowGraph node it was lowered from) when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import diagnostics as d
from .catalog import Catalog, check_args
from .diagnostics import Diagnostic, escape_token, quote
from .graph import cyclic_components, non_ancestor_queries, topological_order
from .ir import Block, BranchCase, FlowIR, QueueDecl, ScaiQueueDecl
from .kinds import BRANCH, KIND_SET, KINDS, LLM, OUTPUT, PLUGIN, QUEUE, TRIGGER, check_fields
from .values import Reference, references_in, scan, string_problem


class _Verifier:
    def __init__(self, ir: FlowIR, catalog: Catalog):
        self.ir = ir
        self.catalog = catalog
        self.out: list[Diagnostic] = []
        self.roles = ir.llm_roles if isinstance(ir.llm_roles, Mapping) else {}
        self.scaiqueue = ir.scaiqueue if isinstance(ir.scaiqueue, ScaiQueueDecl) else None
        queues = self.scaiqueue.queues if self.scaiqueue is not None else ()
        self.queue_slugs = {
            q.slug for q in queues if isinstance(q, QueueDecl) and type(q.slug) is str
        }

    def report(self, code: str, message: str, block: Block | None, suffix: str = "") -> None:
        node_id = block.id if block is not None and type(block.id) is str else None
        path = None
        if block is not None and type(block.origin) is str:
            path = block.origin + suffix
        self.out.append(d.make(code, message, node_id=node_id, path=path))

    def run(self) -> list[Diagnostic]:
        ir = self.ir
        index: dict[str, int] = {}
        if not isinstance(ir.blocks, tuple | list):
            self.report(d.INVALID_SCHEMA, "the Core's blocks must be a sequence", None)
            return self.out
        blocks = [block for block in ir.blocks if self.check_block_shape(block)]
        numbered: list[Block] = []
        for block in blocks:
            if block.id in index:
                self.report(d.DUPLICATE_NODE_ID, f"block id {quote(block.id)} is repeated", block)
                continue
            index[block.id] = len(numbered)
            numbered.append(block)
        self.check_entry(numbered, index)
        if not any(block.kind == OUTPUT for block in numbered):
            self.report(d.NO_OUTPUT, "the Core has no output block", None)
        successors = [self.check_targets(block, index, numbered) for block in numbered]
        refs: list[tuple[int, Reference]] = []
        for number, block in enumerate(numbered):
            self.check_config(block, refs, number)
        if all(target > number for number, targets in enumerate(successors) for target in targets):
            # Every edge leads forward: the IR's own order is topological, there is no cycle.
            order, rest = list(range(len(numbered))), []
        else:
            keys = [(0 if block.kind == TRIGGER else 1, block.id) for block in numbered]
            order, rest = topological_order(successors, keys)
        for component in cyclic_components(rest, successors) if rest else ():
            listed = ", ".join(quote(numbered[number].id) for number in component[:10])
            self.report(d.CYCLE, f"these blocks form a cycle: {listed}", numbered[component[0]])
        self.check_references(numbered, index, refs, None if rest else order, successors)
        return self.out

    def check_block_shape(self, block: Any) -> bool:
        if not isinstance(block, Block):
            self.report(d.INVALID_SCHEMA, f"not a block: {type(block).__name__}", None)
            return False
        if type(block.id) is not str or not block.id:
            self.report(d.INVALID_SCHEMA, "a block id must be a non-empty string", block)
            return False
        if type(block.kind) is not str or block.kind not in KIND_SET:
            self.report(
                d.UNKNOWN_BLOCK_KIND,
                f"unknown block kind {quote(block.kind)}; expected one of {', '.join(KINDS)}",
                block,
                "/kind",
            )
            return False
        if not isinstance(block.config, Mapping):
            self.report(d.INVALID_SCHEMA, "a block's config must be a mapping", block)
            return False
        ids_ok = all(
            isinstance(targets, tuple | list) and all(type(t) is str for t in targets)
            for targets in (block.next, block.default)
        )
        cases_ok = isinstance(block.cases, tuple | list) and all(
            isinstance(case, BranchCase)
            and isinstance(case.next, tuple | list)
            and all(type(t) is str for t in case.next)
            for case in block.cases
        )
        if not ids_ok or not cases_ok:
            self.report(d.INVALID_SCHEMA, "next, cases and default must list block ids", block)
            return False
        return True

    def check_entry(self, blocks: list[Block], index: dict[str, int]) -> None:
        triggers = [block for block in blocks if block.kind == TRIGGER]
        if not triggers:
            self.report(d.MISSING_TRIGGER, "the Core has no trigger block", None)
        for block in triggers[1:]:
            self.report(d.MULTIPLE_TRIGGERS, "a Core has exactly one trigger", block)
        entry = index.get(self.ir.entry) if type(self.ir.entry) is str else None
        if triggers and (entry is None or blocks[entry].kind != TRIGGER):
            self.report(
                d.MISSING_TRIGGER, f"the entry {quote(self.ir.entry)} is not a trigger block", None
            )

    def check_targets(self, block: Block, index: dict[str, int], blocks: list[Block]) -> list[int]:
        targets: list[tuple[str, Any]] = []
        if block.kind == BRANCH:
            if block.next:
                self.report(d.INVALID_SCHEMA, "a branch leads on through its cases", block)
            if not block.cases:
                self.report(d.INVALID_SCHEMA, "a branch needs at least one case", block)
            handles: set[Any] = set()
            for case in block.cases:
                if (
                    type(case.when) is not str
                    or not case.when.strip()
                    or type(case.handle) is not str
                    or case.handle in handles
                ):
                    self.report(d.INVALID_SCHEMA, "each case needs a condition and a handle", block)
                else:
                    handles.add(case.handle)
                targets.extend(("case", target) for target in case.next)
            targets.extend(("default", target) for target in block.default)
        else:
            if block.cases or block.default:
                self.report(d.INVALID_SCHEMA, "only a branch has cases and a default", block)
            if block.kind == OUTPUT and block.next:
                self.report(d.INVALID_SCHEMA, "an output block has no next block", block)
            targets.extend(("next", target) for target in block.next)
        successors = []
        for where, target in targets:
            number = index.get(target) if type(target) is str else None
            if number is None:
                self.report(
                    d.DANGLING_EDGE, f"{where} target {quote(target)} is not a block", block
                )
            elif blocks[number].kind == TRIGGER:
                self.report(d.INVALID_SCHEMA, "nothing leads back to the trigger", block)
            else:
                successors.append(number)
        return successors

    def check_config(self, block: Block, refs: list[tuple[int, Reference]], number: int) -> None:
        config = block.config
        for path, message in check_fields(block.kind, config, "/data"):
            self.report(d.INVALID_SCHEMA, message, block, path)
        problems: list[tuple[str, str]] = []
        found: list[Reference] = []
        scan(config, "/data", found, problems, freeze=False)
        for path, message in problems:
            self.report(d.INVALID_SCHEMA, message, block, path)
        for case_number, case in enumerate(block.cases):
            if type(case.when) is str and "{{" in case.when:
                references_in(case.when, f"/data/cases/{case_number}/when", found)
        refs.extend((number, ref) for ref in found)
        if block.kind == LLM:
            role = config.get("role")
            if type(role) is str and role not in self.roles:
                self.report(d.UNDECLARED_LLM_ROLE, f"LLM role {quote(role)} is not declared", block)
        elif block.kind == PLUGIN:
            name = config.get("plugin")
            spec = self.catalog.get(name) if type(name) is str else None
            if spec is None:
                self.report(d.UNKNOWN_PLUGIN, f"plugin {quote(name)} is not in the catalog", block)
            elif isinstance(config.get("args", {}), Mapping):
                for code, arg, message in check_args(spec, config.get("args", {})):
                    suffix = "/data/args" + (f"/{escape_token(arg)}" if arg is not None else "")
                    self.report(code, message, block, suffix)
        elif block.kind == QUEUE and self.scaiqueue is not None:
            declared = self.scaiqueue
            scope, queue = config.get("scope"), config.get("queue")
            if (
                scope != declared.scope.slug
                or type(queue) is not str
                or queue not in self.queue_slugs
            ):
                self.report(
                    d.UNDECLARED_QUEUE,
                    f"queue {quote(scope)}/{quote(queue)} is not declared in the ScaiQueue config",
                    block,
                )

    def check_references(self, blocks, index, refs, order, successors) -> None:
        queries: list[tuple[int, int]] = []
        asked: list[tuple[Reference, Block]] = []
        for number, ref in refs:
            block = blocks[number]
            if ref.node_id is None or ref.node_id not in index:
                self.report(
                    d.UNKNOWN_REFERENCE, f"{quote(ref.text)} names no block", block, ref.path
                )
            elif order is not None:
                queries.append((number, index[ref.node_id]))
                asked.append((ref, block))
        for failing in non_ancestor_queries(order or [], successors, queries):
            ref, block = asked[failing]
            self.report(
                d.UNKNOWN_REFERENCE,
                f"{quote(ref.text)} refers to a block that does not come before {quote(block.id)}",
                block,
                ref.path,
            )


def verify(ir: FlowIR, catalog: Catalog) -> list[Diagnostic]:
    """Every problem of the IR, in a stable order; an empty list when it is sound."""
    verifier = _Verifier(ir, catalog)
    checks: list[tuple[Any, str]] = [
        (ir.name, "name"),
        (ir.slug, "slug"),
        (ir.entry, "entry"),
    ]
    for value, name in checks:
        if type(value) is not str or not value or string_problem(value):
            verifier.report(d.INVALID_SCHEMA, f"the Core's {name} must be a non-empty string", None)
    problems: list[tuple[str, str]] = []
    scan(ir.llm_roles, "/config/llm_roles", None, problems, freeze=False)
    if not isinstance(ir.llm_roles, Mapping):
        problems.append(("/config/llm_roles", "LLM roles must be a mapping"))
    if ir.scaiqueue is not None and not isinstance(ir.scaiqueue, ScaiQueueDecl):
        problems.append(("/config/scaiqueue", "the ScaiQueue declaration has the wrong type"))
    for path, message in problems:
        verifier.out.append(d.make(d.INVALID_SCHEMA, message, path=path))
    return verifier.run()
