"""The compile cache with the stored version's hash (as the deploy passes it): a version
compiles once, and anything the result depends on (content, name, labels, catalog, compiler)
changes the key."""

from __future__ import annotations

import copy

import pytest

from flows import compiler, services
from flows.compiler import Labels
from flows.selectors import flow_version_content
from flows.services import flow_compile, flow_compile_content, flow_update
from tests.flows.conftest import SUPPORT_TRIAGE, graph_variant


@pytest.fixture
def compiles(monkeypatch):
    """Counts the real compiles the services run."""
    count = [0]
    real = services.compile_flow

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "compile_flow", counted)
    return count


def cached(flow, number=None):
    stored = flow_version_content(tenant=flow.tenant, flow=flow, number=number)
    return flow_compile(
        flow=flow,
        content=stored.content,
        version=stored.version.number,
        content_sha256=stored.version.sha256,
    )


def uncached(flow, number=None):
    stored = flow_version_content(tenant=flow.tenant, flow=flow, number=number)
    labels = Labels(
        tenant=flow.tenant.slug, flow_id=flow.public_id, flow_version=stored.version.number
    )
    return flow_compile_content({"name": flow.name, **stored.content}, labels=labels)


def test_a_version_compiles_once_and_the_hit_is_the_same_manifest(make_flow, compiles):
    flow = make_flow()
    first = cached(flow)
    second = cached(flow)
    assert compiles[0] == 1
    assert first.ok and second.ok
    assert second.manifest == first.manifest == uncached(flow).manifest
    assert second.diagnostics == first.diagnostics


def test_warnings_come_back_from_the_cache(make_flow, compiles):
    content = copy.deepcopy(SUPPORT_TRIAGE)
    content["nodes"].append({"id": "stray", "kind": "output", "data": {"value": "x"}})
    flow = make_flow(content=content)
    first = cached(flow)
    assert [d.code for d in first.diagnostics] == ["unreachable_node"]
    assert cached(flow).diagnostics == first.diagnostics
    assert compiles[0] == 1


def test_a_changed_content_compiles_again(make_flow, compiles):
    flow = make_flow()
    before = cached(flow)
    flow = flow_update(flow=flow, actor="scaikey:alice", content=graph_variant("new"))
    after = cached(flow)
    assert compiles[0] == 2
    assert "new: " in after.manifest and "new: " not in before.manifest
    # The old version is still cached under its own key.
    assert cached(flow, number=1).manifest == before.manifest
    assert compiles[0] == 2


def test_the_labels_are_part_of_the_key(make_flow, compiles):
    one = make_flow()
    two = make_flow()  # the same content (same hash), another flow id
    assert one.versions.get().sha256 == two.versions.get().sha256
    first, second = cached(one), cached(two)
    assert compiles[0] == 2
    assert one.public_id in first.manifest and two.public_id in second.manifest

    # The same content again as version 3 of `one`: its version label differs.
    one = flow_update(flow=one, actor="a", content=graph_variant("x"))
    one = flow_update(flow=one, actor="a", content=copy.deepcopy(SUPPORT_TRIAGE))
    third = cached(one)
    assert compiles[0] == 3
    assert third.manifest != first.manifest
    assert third.manifest == uncached(one).manifest


def test_content_without_a_name_takes_the_flows_current_name(make_flow, compiles):
    content = copy.deepcopy(SUPPORT_TRIAGE)
    del content["name"]
    flow = make_flow(name="Before", content=content)
    assert "Before" in cached(flow).manifest
    flow = flow_update(flow=flow, actor="a", name="After")  # no new version
    after = cached(flow)
    assert compiles[0] == 2
    assert "After" in after.manifest and "Before" not in after.manifest


def test_another_plugin_catalog_compiles_again(make_flow, compiles, settings, tmp_path):
    flow = make_flow()
    cached(flow)
    catalog = tmp_path / "plugins.yaml"
    catalog.write_text("plugins:\n  crm.lookup:\n    args: {}\n")
    settings.SCAIFLOW_PLUGIN_CATALOG = str(catalog)
    cached(flow)
    cached(flow)
    assert compiles[0] == 2


def test_another_compiler_compiles_again(make_flow, compiles, monkeypatch):
    flow = make_flow()
    cached(flow)
    monkeypatch.setattr(compiler, "_code_fingerprint", lambda: "another release")
    monkeypatch.setattr(compiler, "_catalog_fingerprints", {})
    cached(flow)
    assert compiles[0] == 2


def test_a_failed_compile_comes_back_with_its_diagnostics(make_flow, compiles):
    content = copy.deepcopy(SUPPORT_TRIAGE)
    content["nodes"][1]["data"]["role"] = "undeclared"
    flow = make_flow(content=content)
    assert not cached(flow).ok
    again = cached(flow)
    assert not again.ok and again.diagnostics[0].code == "undeclared_llm_role"
    assert again.manifest is None
    assert compiles[0] == 1


def test_a_cache_that_is_down_is_answered_per_process(make_flow, compiles, redis_down):
    flow = make_flow()
    assert cached(flow).ok and cached(flow).ok
    assert compiles[0] == 1


def test_the_content_hash_is_part_of_the_key(make_flow, compiles):
    # Stored versions never change; the hash still decides, whatever the caller passes.
    flow = make_flow()
    one = flow_compile(flow=flow, content=SUPPORT_TRIAGE, version=1, content_sha256="a")
    two = flow_compile(flow=flow, content=graph_variant("other"), version=1, content_sha256="b")
    assert compiles[0] == 2
    assert "other: " in two.manifest and "other: " not in one.manifest
