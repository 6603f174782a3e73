"""The compiler's intermediate representation: immutable data classes, one per concept.

JSON-like values inside the IR (block config, LLM roles, queue config) are frozen: objects are
read-only mappings, arrays are tuples. `to_dict` gives the JSON form (what `scaiflow compile
--format ir` prints and the API returns); `from_dict` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .values import EMPTY_MAP, scan, thaw

IR_VERSION = 1


class IRFormatError(ValueError):
    """An IR dict that does not have the IR's shape."""


@dataclass(frozen=True, slots=True)
class BranchCase:
    """One case of a branch block: its condition, the canvas handle, the blocks it leads to."""

    when: str
    handle: str
    next: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the Core. `origin` is the JSON Pointer of the FlowGraph node it came from."""

    id: str
    kind: str
    config: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAP)
    next: tuple[str, ...] = ()
    cases: tuple[BranchCase, ...] = ()
    default: tuple[str, ...] = ()
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class QueueDecl:
    """A ScaiQueue scope or queue the flow declares (and the deploy provisions)."""

    slug: str
    name: str
    config: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAP)


@dataclass(frozen=True, slots=True)
class ScaiQueueDecl:
    scope: QueueDecl
    queues: tuple[QueueDecl, ...] = ()


@dataclass(frozen=True, slots=True)
class FlowIR:
    """A compiled flow: metadata, LLM roles, the entry block and the blocks in manifest order."""

    name: str
    slug: str
    entry: str
    blocks: tuple[Block, ...]
    labels: tuple[tuple[str, str], ...] = ()
    llm_roles: Mapping[str, Any] = field(default_factory=lambda: EMPTY_MAP)
    scaiqueue: ScaiQueueDecl | None = None
    publish_as_model: bool = False
    group_ids: tuple[str, ...] = ()


def _decl_dict(decl: QueueDecl) -> dict[str, Any]:
    return {"slug": decl.slug, "name": decl.name, "config": thaw(decl.config)}


def _block_dict(block: Block) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": block.id,
        "kind": block.kind,
        "config": thaw(block.config),
        "next": list(block.next),
    }
    if block.cases or block.default:
        out["cases"] = [
            {"when": case.when, "handle": case.handle, "next": list(case.next)}
            for case in block.cases
        ]
        out["default"] = list(block.default)
    out["origin"] = block.origin
    return out


def to_dict(ir: FlowIR) -> dict[str, Any]:
    """The JSON form of the IR (plain dicts and lists, deterministic key order)."""
    scaiqueue = None
    if ir.scaiqueue is not None:
        scaiqueue = {
            "scope": _decl_dict(ir.scaiqueue.scope),
            "queues": [_decl_dict(queue) for queue in ir.scaiqueue.queues],
        }
    return {
        "ir_version": IR_VERSION,
        "name": ir.name,
        "slug": ir.slug,
        "labels": dict(ir.labels),
        "entry": ir.entry,
        "llm_roles": thaw(ir.llm_roles),
        "publish_as_model": ir.publish_as_model,
        "group_ids": list(ir.group_ids),
        "scaiqueue": scaiqueue,
        "blocks": [_block_dict(block) for block in ir.blocks],
    }


def _field(data: Any, name: str, types: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping) or name not in data:
        raise IRFormatError(f"{where}: missing {name!r}")
    value = data[name]
    if not isinstance(value, types):
        raise IRFormatError(f"{where}: {name!r} has the wrong type")
    return value


def _frozen(value: Any, where: str) -> Any:
    problems: list[tuple[str, str]] = []
    frozen = scan(value, "", None, problems)
    if problems:
        raise IRFormatError(f"{where}: {problems[0][1]} at {problems[0][0] or '/'}")
    return frozen


def _ids(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(type(item) is str for item in value):
        raise IRFormatError(f"{where}: expected a list of block ids")
    return tuple(value)


def _decl(data: Any, where: str) -> QueueDecl:
    return QueueDecl(
        slug=_field(data, "slug", str, where),
        name=_field(data, "name", str, where),
        config=_frozen(_field(data, "config", Mapping, where), where),
    )


def _block(data: Any, where: str) -> Block:
    if not isinstance(data, Mapping):
        raise IRFormatError(f"{where}: a block must be an object")
    raw_cases = data.get("cases") or []
    if not isinstance(raw_cases, list):
        raise IRFormatError(f"{where}: 'cases' must be a list")
    cases = tuple(
        BranchCase(
            when=_field(case, "when", str, f"{where}/cases/{index}"),
            handle=_field(case, "handle", str, f"{where}/cases/{index}"),
            next=_ids(_field(case, "next", list, f"{where}/cases/{index}"), where),
        )
        for index, case in enumerate(raw_cases)
    )
    origin = data.get("origin")
    if origin is not None and type(origin) is not str:
        raise IRFormatError(f"{where}: 'origin' must be a string or null")
    return Block(
        id=_field(data, "id", str, where),
        kind=_field(data, "kind", str, where),
        config=_frozen(_field(data, "config", Mapping, where), where),
        next=_ids(_field(data, "next", list, where), where),
        cases=cases,
        default=_ids(data.get("default") or [], where),
        origin=origin,
    )


def from_dict(data: Any) -> FlowIR:
    """The IR back from its JSON form; raises IRFormatError when the shape is wrong."""
    if not isinstance(data, Mapping) or data.get("ir_version") != IR_VERSION:
        raise IRFormatError(f"not an IR dict of version {IR_VERSION}")
    scaiqueue = data.get("scaiqueue")
    if scaiqueue is not None:
        queues = _field(scaiqueue, "queues", list, "/scaiqueue")
        scaiqueue = ScaiQueueDecl(
            scope=_decl(_field(scaiqueue, "scope", Mapping, "/scaiqueue"), "/scaiqueue/scope"),
            queues=tuple(
                _decl(queue, f"/scaiqueue/queues/{index}") for index, queue in enumerate(queues)
            ),
        )
    labels = _field(data, "labels", Mapping, "")
    if not all(type(key) is str and type(value) is str for key, value in labels.items()):
        raise IRFormatError("/labels: labels map strings to strings")
    blocks = _field(data, "blocks", list, "")
    return FlowIR(
        name=_field(data, "name", str, ""),
        slug=_field(data, "slug", str, ""),
        entry=_field(data, "entry", str, ""),
        blocks=tuple(_block(block, f"/blocks/{index}") for index, block in enumerate(blocks)),
        labels=tuple(labels.items()),
        llm_roles=_frozen(_field(data, "llm_roles", Mapping, ""), "/llm_roles"),
        scaiqueue=scaiqueue,
        publish_as_model=_field(data, "publish_as_model", bool, ""),
        group_ids=_ids(_field(data, "group_ids", list, ""), "/group_ids"),
    )
