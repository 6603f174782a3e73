"""The flow page's diff of two versions: what it shows, escaping, scoping, bad parameters."""

from __future__ import annotations

import copy
import html
import re
from unittest import mock

import pytest

from flows import diff
from flows.services import flow_update
from flows.storage import FlowStorageError
from tests.admin.conftest import GRAPH, change_url, make_flow

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("diff")</script>'


def versions(flow, *contents):
    for content in contents:
        flow = flow_update(flow=flow, actor="test", content=content)
    return flow


def grown():
    """GRAPH with a node and an edge added, a prompt changed and a config key added."""
    content = copy.deepcopy(GRAPH)
    content["nodes"][1]["data"]["prompt"] = "Briefly: {{start.message}}"
    content["nodes"].append({"id": "audit", "kind": "output", "data": {"value": "logged"}})
    content["edges"].append({"source": "answer", "target": "audit"})
    content["config"]["publish_as_model"] = True
    return content


@pytest.fixture
def flow(acme):
    """v1 GRAPH, v2 grown, v3 GRAPH again (the node and edge removed)."""
    return versions(make_flow(acme, "Diffed"), grown(), copy.deepcopy(GRAPH))


def row(page: str, name: str) -> str:
    """The text of one row of the summary table, tags stripped."""
    match = re.search(rf'<tr class="{name}">(.*?)</tr>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def selected(page: str, select: str) -> str:
    block = re.search(rf'<select name="{select}">(.*?)</select>', page, re.S).group(1)
    return re.search(r'<option value="(\d+)" selected>', block).group(1)


def test_the_page_offers_previous_against_current(admin_client, flow):
    page = admin_client.get(change_url(flow)).content.decode()
    assert "Changes between versions" in page
    assert (selected(page, "diff_from"), selected(page, "diff_to")) == ("2", "3")
    assert 'class="manifest-diff"' not in page  # only once asked for


def test_added_and_changed_nodes_edges_config_and_the_manifest(admin_client, flow):
    page = admin_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2}).content.decode()
    assert (selected(page, "diff_from"), selected(page, "diff_to")) == ("1", "2")
    assert row(page, "nodes-added").split() == ["Nodes", "added", "audit"]
    assert "answer : data prompt" in " ".join(row(page, "nodes-changed").split())
    assert "answer → audit" in row(page, "edges-added")
    assert "publish_as_model" in row(page, "config-added")
    assert row(page, "nodes-removed") == ""
    assert '<span class="diff-added">+  - id: audit\n</span>' in page
    assert '<span class="diff-removed">-    next: reply\n</span>' in page
    assert '<span class="diff-file">--- v1\n</span>' in page


def test_removed_nodes_and_edges(admin_client, flow):
    page = admin_client.get(change_url(flow), {"diff_from": 2, "diff_to": 3}).content.decode()
    assert row(page, "nodes-removed").split() == ["Nodes", "removed", "audit"]
    assert "answer → audit" in row(page, "edges-removed")
    assert "publish_as_model" in row(page, "config-removed")
    assert '<span class="diff-removed">-  - id: audit\n</span>' in page


def test_the_same_version_twice_has_no_changes(admin_client, flow):
    page = admin_client.get(change_url(flow), {"diff_from": 3, "diff_to": 3}).content.decode()
    assert "No node, edge or config changed." in page
    assert "The manifests are the same." in page


def test_the_page_shows_what_the_api_answers(admin_client, acme_user, flow):
    response = admin_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2})
    body = response.context["version_diff"]["body"]
    assert body == acme_user.get(f"/api/v1/flows/{flow.public_id}/versions/1/diff/2").json()
    assert body["nodes"]["changed"] == [{"id": "answer", "data_fields": ["prompt"]}]


def test_node_ids_and_values_are_escaped(admin_client, acme):
    in_a_value = copy.deepcopy(GRAPH)
    in_a_value["nodes"][2]["data"]["value"] = SCRIPT
    in_an_id = copy.deepcopy(in_a_value)
    in_an_id["nodes"].append({"id": SCRIPT, "kind": "output", "data": {"value": SCRIPT}})
    flow = versions(make_flow(acme), in_a_value, in_an_id)
    for a, b in ((1, 2), (2, 3)):
        response = admin_client.get(change_url(flow), {"diff_from": a, "diff_to": b})
        page = response.content.decode()
        assert SCRIPT not in page
        assert html.escape(SCRIPT) in page
    assert SCRIPT in response.context["version_diff"]["body"]["nodes"]["added"]


def test_a_version_that_does_not_compile_has_no_manifest_diff(admin_client, acme):
    broken = copy.deepcopy(GRAPH)
    broken["edges"].append({"source": "reply", "target": "nowhere"})
    flow = versions(make_flow(acme), broken)
    page = admin_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2}).content.decode()
    assert "No manifest diff: v2 does not compile." in page
    assert 'class="manifest-diff"' not in page


@pytest.mark.parametrize(
    "params",
    [
        {"diff_from": 9, "diff_to": 3},
        {"diff_from": "abc"},
        {"diff_to": "-1"},
        {"diff_to": "0"},
        {"diff_from": "99999999999999999999999"},
        {"diff_from": "1", "diff_to": "<b>2</b>"},
    ],
)
def test_unknown_versions_are_a_message(admin_client, flow, params):
    with mock.patch("flows.admin.flow_versions_diff") as differ:
        response = admin_client.get(change_url(flow), params)
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is no version" in page and "choose one from the list" in page
    assert "<b>2</b>" not in page
    differ.assert_not_called()


def test_a_storage_failure_is_a_message(admin_client, flow):
    with mock.patch.object(diff, "flow_version_content", side_effect=FlowStorageError("down")):
        response = admin_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2})
    assert response.status_code == 200
    assert "could not be read from storage" in response.content.decode()


def test_one_version_shows_a_note_instead_of_the_form(admin_client, acme_flow):
    page = admin_client.get(change_url(acme_flow), {"diff_from": 1}).content.decode()
    assert "This flow has one version" in page
    assert 'name="diff_from"' not in page


def test_a_viewer_of_the_tenant_may_diff(viewer_client, flow):
    page = viewer_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2}).content.decode()
    assert row(page, "nodes-added").split() == ["Nodes", "added", "audit"]


def test_a_tenant_admin_cannot_diff_another_tenants_flow(ada_client, globex):
    secret = copy.deepcopy(GRAPH)
    secret["nodes"][2]["data"]["value"] = "globex secret value"
    flow = versions(make_flow(globex, "Globex plan"), secret)
    with mock.patch("flows.admin.flow_versions_diff") as differ:
        response = ada_client.get(change_url(flow), {"diff_from": 1, "diff_to": 2}, follow=True)
    differ.assert_not_called()
    page = response.content.decode()
    assert "globex secret value" not in page and "Changes between versions" not in page
