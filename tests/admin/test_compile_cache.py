"""Compile results are cached by what they depend on: the flow page, the API and the deploy
compile a version once, not on every open."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from flows import services
from flows.selectors import flow_content_read
from flows.services import flow_compile, flow_update
from tests.admin.conftest import GRAPH, change_url, make_flow

pytestmark = pytest.mark.django_db

BROKEN = {"name": "Broken", "nodes": [{"id": "lost", "kind": "output", "data": {}}], "edges": []}


def manifest(page: str) -> str:
    return re.search(r'<pre class="manifest">(.*?)</pre>', page, re.S).group(1)


@pytest.fixture
def compiles():
    """Counts the compiler's runs (it still runs)."""
    with mock.patch.object(services, "compile_flow", wraps=services.compile_flow) as spy:
        yield spy


def test_the_second_open_of_the_flow_page_does_not_compile(admin_client, acme_flow, compiles):
    first = admin_client.get(change_url(acme_flow)).content.decode()
    second = admin_client.get(change_url(acme_flow)).content.decode()
    assert compiles.call_count == 1
    assert manifest(second) == manifest(first)
    assert "kind: Core" in manifest(second)


def test_the_api_compile_reuses_what_the_page_compiled(admin_client, acme_flow, compiles):
    admin_client.get(change_url(acme_flow))
    content = flow_content_read(tenant=acme_flow.tenant, flow=acme_flow)
    flow_compile(flow=acme_flow, content=content, version=acme_flow.version)
    assert compiles.call_count == 1


@pytest.mark.parametrize("graph", [GRAPH, BROKEN], ids=["compiles", "does-not-compile"])
def test_a_cached_result_equals_a_fresh_one(acme, graph):
    flow = make_flow(acme, content=graph)
    content = flow_content_read(tenant=acme, flow=flow)
    fresh = flow_compile(flow=flow, content=content, version=1)
    with mock.patch.object(services, "compile_flow") as compiler:
        cached = flow_compile(flow=flow, content=content, version=1)
    compiler.assert_not_called()
    assert cached == fresh


def test_a_new_version_a_new_label_or_another_catalog_compiles_again(
    acme, acme_flow, compiles, settings, tmp_path
):
    content = flow_content_read(tenant=acme, flow=acme_flow)
    flow_compile(flow=acme_flow, content=content, version=1)
    # The same content under another version number carries other labels.
    flow_compile(flow=acme_flow, content=content, version=2)
    changed = {**content, "config": {**content["config"], "publish_as_model": True}}
    flow = flow_update(flow=acme_flow, actor="test", content=changed)
    flow_compile(flow=flow, content=changed, version=2)
    assert compiles.call_count == 3
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("plugins:\n  acme.lookup:\n    description: x\n    args: {}\n")
    settings.SCAIFLOW_PLUGIN_CATALOG = str(catalog)
    flow_compile(flow=flow, content=changed, version=2)
    assert compiles.call_count == 4


def test_a_cache_that_is_down_does_not_stop_a_compile(acme_flow, redis_down):
    content = flow_content_read(tenant=acme_flow.tenant, flow=acme_flow)
    result = flow_compile(flow=acme_flow, content=content, version=1)
    assert result.ok


def test_the_flow_page_opens_while_redis_is_down(admin_client, acme_flow, redis_down):
    response = admin_client.get(change_url(acme_flow))
    assert response.status_code == 200
    assert "apiVersion: scaicore/v1" in response.content.decode()
