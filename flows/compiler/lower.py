"""Stage 3: lower a validated flow to the IR.

Blocks come in topological order, ties broken by id (the trigger first), so the same graph
gives the same manifest whatever the order of its nodes and edges. A block's `next` lists all
its successors in that same order: one successor is the usual chain; several are a fan-out
(every listed block runs after this one). A branch has no plain `next`: each case leads to the
blocks of the edges naming its handle, `default` to the edges named "default". Only the fields
of each kind (kinds.CONFIG_FIELDS) are carried into `config`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .ir import Block, BranchCase, FlowIR
from .kinds import BRANCH, DEFAULT_HANDLE
from .validate import CheckedFlow

_SLUG_LIMIT = 63


@dataclass(frozen=True, slots=True)
class Labels:
    """Who the manifest belongs to: carried as metadata.labels (SPEC §6) when given."""

    tenant: str | None = None
    flow_id: str | None = None
    flow_version: int | str | None = None

    def items(self) -> tuple[tuple[str, str], ...]:
        pairs = (
            ("scaiflow/tenant", self.tenant),
            ("scaiflow/flow-id", self.flow_id),
            ("scaiflow/flow-version", self.flow_version),
        )
        return tuple((key, str(value)) for key, value in pairs if value is not None)


def slugify(name: str) -> str:
    """A DNS-label-like slug of the flow's name: lowercase ASCII, digits and dashes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:_SLUG_LIMIT].rstrip("-") or "flow"


def lower(flow: CheckedFlow, labels: Labels | None = None) -> FlowIR:
    """The IR of a flow that validated without errors."""
    nodes = flow.nodes
    rank = [0] * len(nodes)
    for position, number in enumerate(flow.order):
        rank[number] = position

    def targets(numbers: list[int] | None) -> tuple[str, ...]:
        if not numbers:
            return ()
        if len(numbers) == 1:
            return (nodes[numbers[0]].id,)
        return tuple(nodes[number].id for number in sorted(set(numbers), key=rank.__getitem__))

    blocks = []
    for number in flow.order:
        node = nodes[number]
        origin = f"/nodes/{node.index}"
        config = node.config
        if node.kind == BRANCH:
            outgoing = node.outgoing
            cases = tuple(
                BranchCase(when, handle, targets(outgoing.get(handle)))
                for when, handle in node.cases
            )
            default = targets(outgoing.get(DEFAULT_HANDLE))
            blocks.append(Block(node.id, node.kind, config, (), cases, default, origin))
        else:
            following = targets(node.outgoing.get(None))
            blocks.append(Block(node.id, node.kind, config, following, (), (), origin))
    return FlowIR(
        name=flow.name,
        slug=slugify(flow.name),
        entry=nodes[flow.entry].id,
        blocks=tuple(blocks),
        labels=labels.items() if labels is not None else (),
        llm_roles=flow.llm_roles,
        scaiqueue=flow.scaiqueue,
        publish_as_model=flow.publish_as_model,
        group_ids=flow.group_ids,
    )
