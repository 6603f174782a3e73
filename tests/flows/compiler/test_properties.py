"""Property-based tests: random JSON and random graphs never raise; valid random DAGs compile."""

from __future__ import annotations

import json
import random

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.compiler import CODES, compile_flow, load_catalog, verify
from flows.compiler.emit import Dumper, dump
from flows.compiler.kinds import KINDS

CATALOG = load_catalog()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["start", "{{start.message}}", "{{", "}}", "{{x}}", "default", "\x00"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def _check_result(result) -> None:
    """Invariants every compile result keeps, whatever the input."""
    assert all(diagnostic.code in CODES for diagnostic in result.diagnostics)
    assert all(diagnostic.severity in ("error", "warning") for diagnostic in result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.path is None or diagnostic.path == "" or diagnostic.path.startswith("/")
        assert "\n" not in diagnostic.message
    has_errors = any(diagnostic.severity == "error" for diagnostic in result.diagnostics)
    assert result.ok is not has_errors
    json.dumps(result.as_dict(), ensure_ascii=False).encode("utf-8")
    if result.ok:
        assert verify(result.ir, CATALOG) == []
        assert yaml.safe_load(result.manifest)["kind"] == "Core"
    else:
        assert result.manifest is None and result.ir is None


@SETTINGS
@given(json_values)
def test_random_json_values_never_raise(value):
    _check_result(compile_flow(value))
    _check_result(compile_flow(json.dumps(value)))


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(raw):
    _check_result(compile_flow(raw))


ids = st.sampled_from(["a", "b", "c", "d", "start", "end"]) | scalars
kinds = st.sampled_from([*KINDS, "email", ""]) | scalars
data_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["chat", "webhook", "schedule", "manual", "x"]) | scalars,
        "schedule": st.sampled_from(["0 7 * * 1-5", "@daily", "bad"]) | scalars,
        "role": st.sampled_from(["writer", "nobody"]) | scalars,
        "prompt": st.sampled_from(["hi {{a.x}}", "{{start.m}}", "{{zz.q}}"]) | scalars,
        "output": st.sampled_from(["text", "two words"]) | scalars,
        "plugin": st.sampled_from(["http.request", "kv.get", "nope"]) | scalars,
        "args": st.dictionaries(st.sampled_from(["url", "key", "top_k", "x"]), json_values)
        | scalars,
        "cases": st.lists(
            st.fixed_dictionaries(
                {"when": st.sampled_from(["a.x > 1", ""]) | scalars},
                optional={"handle": st.sampled_from(["yes", "no", "default"]) | scalars},
            )
            | scalars,
            max_size=3,
        )
        | scalars,
        "set": st.dictionaries(st.sampled_from(["v", "w x"]), json_values) | scalars,
        "scope": st.sampled_from(["support", "other"]) | scalars,
        "queue": st.sampled_from(["review", "other"]) | scalars,
        "title": scalars,
        "payload": json_values,
        "value": json_values,
    },
)
graph_nodes = st.fixed_dictionaries(
    {"id": ids, "kind": kinds},
    optional={"data": data_fields | scalars, "position": json_values},
)
graph_edges = st.fixed_dictionaries(
    {"source": ids, "target": ids},
    optional={"source_handle": st.sampled_from(["yes", "no", "default"]) | scalars},
)
graph_configs = st.fixed_dictionaries(
    {},
    optional={
        "llm_roles": st.dictionaries(st.sampled_from(["writer", "x"]), json_values) | scalars,
        "scaiqueue": st.fixed_dictionaries(
            {"scope": st.fixed_dictionaries({"slug": st.sampled_from(["support"]) | scalars})},
            optional={
                "queues": st.lists(st.fixed_dictionaries({"slug": st.just("review") | scalars}))
            },
        )
        | scalars,
        "publish_as_model": st.booleans() | scalars,
        "group_ids": st.lists(st.text(max_size=5)) | scalars,
    },
)
graphs = st.fixed_dictionaries(
    {
        "name": st.text(max_size=10) | scalars,
        "nodes": st.lists(graph_nodes | scalars, max_size=8),
        "edges": st.lists(graph_edges | scalars, max_size=10),
    },
    optional={"config": graph_configs | scalars},
)


@SETTINGS
@given(graphs)
def test_random_graphs_never_raise(flow):
    _check_result(compile_flow(flow))


MIDDLE_KINDS = ["llm", "plugin", "transform", "queue", "branch", "output"]


def _data(kind: str, parent: str, ancestor: str, rng: random.Random) -> dict:
    ref = f"{{{{{parent}.out}}}} and {{{{{ancestor}.out}}}}"
    if kind == "llm":
        return {"role": "writer", "prompt": f"Improve: {ref}", "output": "out"}
    if kind == "plugin":
        return rng.choice(
            [
                {"plugin": "kv.get", "args": {"key": ref}},
                {"plugin": "http.request", "args": {"url": "https://x.example", "body": ref}},
                {"plugin": "scaigrid.search", "args": {"index": "kb", "query": ref, "top_k": 3}},
            ]
        )
    if kind == "transform":
        return {"set": {"out": ref}}
    if kind == "queue":
        return {"scope": "support", "queue": "review", "title": ref, "payload": {"x": [ref]}}
    if kind == "branch":
        return {
            "cases": [{"when": f"{parent}.out == 'a'", "handle": "a"}, {"when": "x", "handle": "b"}]
        }
    return {"value": ref}


@SETTINGS
@given(st.integers(min_value=2, max_value=40), st.randoms(use_true_random=False))
def test_valid_random_dags_always_compile(size, rng):
    kinds = ["trigger"] + [rng.choice(MIDDLE_KINDS) for _ in range(size - 2)] + ["output"]
    ids = [f"n{number}_{rng.randrange(1000)}" for number in range(size)]
    ancestors: list[set[int]] = [set() for _ in range(size)]
    edges = []

    def connect(source: int, target: int) -> None:
        handle = rng.choice(["a", "b", "default"]) if kinds[source] == "branch" else None
        out = {"source": ids[source], "target": ids[target]}
        if handle:
            out["source_handle"] = handle
        edges.append(out)
        ancestors[target] |= ancestors[source] | {source}

    nodes = [{"id": ids[0], "kind": "trigger", "data": {"type": "chat"}}]
    for number in range(1, size):
        candidates = [earlier for earlier in range(number) if kinds[earlier] != "output"]
        connect(rng.choice(candidates), number)
        for extra in rng.sample(candidates, min(len(candidates), rng.randrange(3))):
            connect(extra, number)
        parent = ids[rng.choice(sorted(ancestors[number]))]
        ancestor = ids[rng.choice(sorted(ancestors[number]))]
        nodes.append(
            {
                "id": ids[number],
                "kind": kinds[number],
                "data": _data(kinds[number], parent, ancestor, rng),
            }
        )
    rng.shuffle(nodes)
    flow = {
        "name": "random dag",
        "config": {
            "llm_roles": {"writer": {"model": "m"}},
            "scaiqueue": {"scope": {"slug": "support"}, "queues": [{"slug": "review"}]},
        },
        "nodes": nodes,
        "edges": edges,
    }
    result = compile_flow(json.dumps(flow))
    assert result.ok, result.diagnostics
    assert all(diagnostic.severity == "warning" for diagnostic in result.diagnostics)
    position = {block.id: index for index, block in enumerate(result.ir.blocks)}
    for block in result.ir.blocks:
        following = [*block.next, *block.default, *(t for case in block.cases for t in case.next)]
        assert all(position[target] > position[block.id] for target in following)
    rng.shuffle(flow["edges"])
    assert compile_flow(flow).manifest == result.manifest


yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), yaml_values, max_size=5))
def test_emitted_yaml_reads_back_as_the_same_value(document):
    text = dump(document)
    assert yaml.safe_load(text) == document
    if "\n" not in json.dumps(document, ensure_ascii=False).replace("\\n", "\n"):
        # The same bytes as yaml.dump with the same (C when available) dumper.
        assert text == yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True)
