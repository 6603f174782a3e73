"""The IR: frozen, round-trips through its JSON form, and the verifier checks it alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType

import pytest

from flows.compiler import (
    IRFormatError,
    compile_flow,
    emit,
    ir_from_dict,
    ir_to_dict,
    load_catalog,
    verify,
)
from flows.compiler.ir import Block, BranchCase, FlowIR, QueueDecl, ScaiQueueDecl

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.flow.json"))
CATALOG = load_catalog()


def _ir(path: Path) -> FlowIR:
    result = compile_flow(path.read_bytes())
    assert result.ok, result.diagnostics
    return result.ir


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_ir_round_trips_through_json(path):
    ir = _ir(path)
    data = json.loads(json.dumps(ir_to_dict(ir)))
    again = ir_from_dict(data)
    assert again == ir
    assert ir_to_dict(again) == data
    assert emit(again) == emit(ir)


def test_ir_dict_is_what_the_result_gives():
    result = compile_flow(EXAMPLES[0].read_bytes())
    assert result.ir_dict() == ir_to_dict(result.ir)
    assert json.loads(result.ir_json()) == result.ir_dict()


def test_ir_is_immutable():
    ir = _ir(EXAMPLES[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        ir.entry = "elsewhere"
    with pytest.raises(TypeError):
        ir.blocks[0].config["type"] = "webhook"
    assert isinstance(ir.blocks, tuple)


def test_from_dict_rejects_a_wrong_shape():
    data = ir_to_dict(_ir(EXAMPLES[0]))
    for broken in (
        {**data, "ir_version": 99},
        {**data, "blocks": "nope"},
        {**data, "blocks": [{"id": "a"}]},
        {**data, "labels": {"a": 1}},
        {**data, "llm_roles": {"r": float("nan")}},
        [],
    ):
        with pytest.raises(IRFormatError):
            ir_from_dict(broken)


def _good_ir(**changes) -> FlowIR:
    blocks = (
        Block("start", "trigger", MappingProxyType({"type": "chat"}), next=("ask",)),
        Block(
            "ask",
            "llm",
            MappingProxyType({"role": "writer", "prompt": "{{start.message}}"}),
            next=("reply",),
        ),
        Block("reply", "output", MappingProxyType({"value": "{{ask.text}}"})),
    )
    ir = FlowIR(
        name="Hand built",
        slug="hand-built",
        entry="start",
        blocks=blocks,
        llm_roles=MappingProxyType({"writer": MappingProxyType({"model": "m"})}),
    )
    return dataclasses.replace(ir, **changes)


def test_verifier_accepts_a_sound_hand_built_ir():
    assert verify(_good_ir(), CATALOG) == []
    assert emit(_good_ir()).startswith("apiVersion: scaicore/v1\n")


def _codes(ir: FlowIR) -> list[str]:
    return sorted(diagnostic.code for diagnostic in verify(ir, CATALOG))


def test_verifier_catches_a_hand_built_bad_ir():
    good = _good_ir().blocks
    bad = _good_ir(
        entry="ask",
        blocks=(
            good[0],
            dataclasses.replace(good[1], next=("reply", "ghost")),
            Block("ask", "transform", MappingProxyType({"set": {"v": "x"}})),
            Block("teleport", "wormhole"),
            Block(
                "call", "plugin", MappingProxyType({"plugin": "http.request", "args": {"url": 5}})
            ),
            Block("mystery", "plugin", MappingProxyType({"plugin": "nope"})),
            Block("tail", "output", MappingProxyType({"value": "{{later.x}}"}), next=("start",)),
            Block("review", "queue", MappingProxyType({"scope": "s", "queue": "other"})),
            Block("nan", "transform", MappingProxyType({"set": {"v": float("nan")}})),
            dataclasses.replace(good[2]),
        ),
        scaiqueue=ScaiQueueDecl(QueueDecl("s", "S"), (QueueDecl("q", "Q"),)),
    )
    assert _codes(bad) == sorted(
        [
            "missing_trigger",  # the entry is not the trigger
            "dangling_edge",  # ask -> ghost
            "duplicate_node_id",  # ask twice
            "unknown_block_kind",  # wormhole
            "plugin_bad_arg",  # url: 5
            "unknown_plugin",  # nope
            "invalid_schema",  # an output with a next
            "invalid_schema",  # nothing leads back to the trigger
            "unknown_reference",  # {{later.x}}
            "undeclared_queue",  # s/other
            "invalid_schema",  # NaN cannot be carried to YAML
            "invalid_schema",  # 'set' maps names to template strings
        ]
    )


def test_verifier_catches_cycles_roles_and_missing_args():
    ask = Block(
        "ask",
        "llm",
        MappingProxyType({"role": "critic", "prompt": "{{loop.v}}"}),
        next=("loop",),
    )
    loop = Block("loop", "transform", MappingProxyType({"set": {"v": "x"}}), next=("ask", "fetch"))
    fetch = Block("fetch", "plugin", MappingProxyType({"plugin": "http.request"}), next=("reply",))
    ir = _good_ir(blocks=(_good_ir().blocks[0], ask, loop, fetch, _good_ir().blocks[2]))
    # With a cycle there is no "before": references are only checked for existence.
    assert _codes(ir) == ["cycle", "plugin_missing_arg", "undeclared_llm_role"]


def test_verifier_checks_branch_shape_and_reports_origin_paths():
    branch = Block(
        "route",
        "branch",
        MappingProxyType({}),
        next=("reply",),
        cases=(BranchCase("x > 1", "big", ("nowhere",)),),
        origin="/nodes/7",
    )
    start = dataclasses.replace(_good_ir().blocks[0], next=("route",))
    reply = Block("reply", "output", MappingProxyType({"value": "done"}))
    ir = _good_ir(blocks=(start, branch, reply))
    diagnostics = verify(ir, CATALOG)
    assert sorted(d.code for d in diagnostics) == ["dangling_edge", "invalid_schema"]
    assert {d.path for d in diagnostics} == {"/nodes/7"}
    assert {d.node_id for d in diagnostics} == {"route"}


def test_verifier_requires_a_trigger_and_an_output():
    ir = _good_ir(blocks=(_good_ir().blocks[1],), entry="ask")
    assert _codes(ir) == ["dangling_edge", "missing_trigger", "no_output", "unknown_reference"]
    two = _good_ir(
        blocks=(*_good_ir().blocks, Block("again", "trigger", MappingProxyType({"type": "chat"})))
    )
    assert _codes(two) == ["multiple_triggers"]


def test_verifier_reports_garbage_instead_of_raising():
    junk_blocks = (
        Block(["id"], "trigger"),
        Block("k", ["kind"]),
        Block("n", "llm", MappingProxyType({"role": ["r"], "prompt": 5}), next=None),
        Block("c", "branch", MappingProxyType({}), cases="yes"),
        Block("d", "branch", MappingProxyType({}), cases=(BranchCase([1], {"h": 1}, ()),)),
        "not a block",
        Block("q", "queue", MappingProxyType({"scope": {"s": 1}, "queue": None})),
    )
    for ir in (
        _good_ir(blocks=junk_blocks, llm_roles=5, scaiqueue="declared"),
        _good_ir(blocks=None, entry=None, name=b"bytes"),
        _good_ir(
            blocks=(Block("q", "queue", MappingProxyType({"scope": "s", "queue": {"q": 1}})),),
            scaiqueue=ScaiQueueDecl(QueueDecl("s", "S"), (QueueDecl("q", "Q"),)),
        ),
    ):
        diagnostics = verify(ir, CATALOG)
        assert diagnostics and {d.code for d in diagnostics} <= {
            "invalid_schema",
            "unknown_block_kind",
            "missing_trigger",
            "no_output",
            "undeclared_queue",
        }
