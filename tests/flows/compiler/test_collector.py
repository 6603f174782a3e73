"""compile_flow pauses the cyclic garbage collector process-wide; threads must not undo that
for each other, and the collector's state must come back as it was."""

from __future__ import annotations

import gc
import threading

import pytest

from flows.compiler import compile_flow, load_catalog

from .factories import flow_with, minimal_flow, node


class _GatedCatalog:
    """The shipped catalog, but looking up a plugin waits until the test opens the gate: a
    compile can be held mid-way, deterministically."""

    def __init__(self) -> None:
        self.inner = load_catalog()
        self.reached = threading.Event()
        self.gate = threading.Event()

    def get(self, name):
        self.reached.set()
        assert self.gate.wait(timeout=30)
        return self.inner.get(name)

    def __contains__(self, name):
        return name in self.inner


def _plugin_flow() -> dict:
    return flow_with(node("call", "plugin", plugin="kv.get", args={}))


@pytest.fixture
def collector_on():
    was_on = gc.isenabled()
    gc.enable()
    yield
    if not was_on:
        gc.disable()


def _held_compile(results: list) -> tuple[threading.Thread, _GatedCatalog]:
    catalog = _GatedCatalog()
    thread = threading.Thread(
        target=lambda: results.append(compile_flow(_plugin_flow(), catalog=catalog))
    )
    thread.start()
    assert catalog.reached.wait(timeout=30)
    return thread, catalog


def test_overlapping_compiles_keep_it_paused_until_the_last_one_ends(collector_on):
    results: list = []
    first, first_gate = _held_compile(results)
    second, second_gate = _held_compile(results)
    assert not gc.isenabled()

    first_gate.gate.set()
    first.join(timeout=30)
    assert not first.is_alive()
    # The first compile ended while the second still runs: the collector stays paused.
    assert not gc.isenabled()

    second_gate.gate.set()
    second.join(timeout=30)
    assert not second.is_alive()
    assert gc.isenabled()
    assert len(results) == 2


def test_a_compile_that_ends_after_one_started_later_still_restores_it(collector_on):
    results: list = []
    first, first_gate = _held_compile(results)
    second, second_gate = _held_compile(results)
    second_gate.gate.set()
    second.join(timeout=30)
    assert not gc.isenabled()
    first_gate.gate.set()
    first.join(timeout=30)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    was_on = gc.isenabled()
    gc.disable()
    try:
        assert compile_flow(minimal_flow()).ok
        assert not gc.isenabled()
    finally:
        if was_on:
            gc.enable()


def test_the_collector_comes_back_when_a_compile_raises(collector_on):
    class Broken:
        def get(self, name):
            raise RuntimeError("catalog failed")

        def __contains__(self, name):
            return False

    with pytest.raises(RuntimeError):
        compile_flow(_plugin_flow(), catalog=Broken())
    assert gc.isenabled()
