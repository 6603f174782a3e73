"""Version diff: flows/diff.py on hand-made pairs, and the endpoint."""

import copy

from flows.diff import content_diff, manifest_diff
from flows.services import flow_create, flow_update
from tenants.models import Tenant

BASE = {
    "name": "Echo",
    "config": {"llm_roles": {"main": {"model": "scai-large"}}, "group_ids": ["g"]},
    "nodes": [
        {"id": "start", "kind": "trigger", "data": {"type": "chat"}, "position": {"x": 0, "y": 0}},
        {"id": "answer", "kind": "llm", "data": {"role": "main", "prompt": "{{start.message}}"},
         "position": {"x": 100, "y": 0}},
        {"id": "reply", "kind": "output", "data": {"value": "{{answer.text}}"}},
    ],
    "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "reply"}],
}  # fmt: skip


def variant():
    return copy.deepcopy(BASE)


def test_identical_versions_have_no_changes():
    diff = content_diff(BASE, variant())
    assert diff == {
        "nodes": {"added": [], "removed": [], "changed": [], "moved": []},
        "edges": {"added": [], "removed": []},
        "config": {"added": [], "removed": [], "changed": []},
    }


def test_added_removed_changed_and_moved_nodes():
    after = variant()
    after["nodes"][0]["position"] = {"x": 50, "y": 50}  # moved only
    after["nodes"][1]["data"]["prompt"] = "Say: {{start.message}}"  # data changed
    after["nodes"][1]["data"]["output"] = "text"  # a field added
    del after["nodes"][2]
    after["nodes"].append({"id": "out", "kind": "output", "data": {"value": "x"}})
    after["edges"] = [
        {"source": "start", "target": "answer"},
        {"source": "answer", "target": "out"},
    ]
    diff = content_diff(BASE, after)
    assert diff["nodes"] == {
        "added": ["out"],
        "removed": ["reply"],
        "changed": [{"id": "answer", "data_fields": ["output", "prompt"]}],
        "moved": ["start"],
    }
    assert diff["edges"] == {
        "added": [{"source": "answer", "source_handle": None, "target": "out"}],
        "removed": [{"source": "answer", "source_handle": None, "target": "reply"}],
    }


def test_kind_change_and_config_changes():
    after = variant()
    after["nodes"][2]["kind"] = "transform"
    after["config"]["publish_as_model"] = True
    del after["config"]["group_ids"]
    after["config"]["llm_roles"]["main"]["temperature"] = 0.1
    diff = content_diff(BASE, after)
    assert diff["nodes"]["changed"] == [
        {"id": "reply", "data_fields": [], "kind": {"from": "output", "to": "transform"}}
    ]
    assert diff["config"] == {
        "added": ["publish_as_model"], "removed": ["group_ids"], "changed": ["llm_roles"],
    }  # fmt: skip


def test_malformed_drafts_do_not_break_the_diff():
    for broken in (None, [], {"nodes": "x", "edges": 3, "config": []}, {"nodes": [1, {"id": 2}]}):
        diff = content_diff(broken, BASE)
        assert diff["nodes"]["added"] == ["answer", "reply", "start"]


def test_manifest_diff():
    assert manifest_diff("a\nb\n", "a\nc\n", labels=("v1", "v2")).splitlines()[-2:] == ["-b", "+c"]
    assert manifest_diff(None, "a\n", labels=("v1", "v2")) is None


def test_endpoint(acme_user, globex_user, db):
    tenant = Tenant.objects.get_or_create(slug="acme")[0]
    flow = flow_create(tenant=tenant, name="Echo", content=variant(), actor="t")
    after = variant()
    after["nodes"][1]["data"]["prompt"] = "Say: {{start.message}}"
    flow_update(flow=flow, actor="t", content=after)
    response = acme_user.get(f"/api/v1/flows/{flow.public_id}/versions/1/diff/2")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    assert body["nodes"]["changed"] == [{"id": "answer", "data_fields": ["prompt"]}]
    assert body["compiles"] == {"from": True, "to": True}
    assert (
        "-      prompt: '{{start.message}}'" in body["manifest_diff"]
        or "prompt" in body["manifest_diff"]
    )
    assert "+++ v2" in body["manifest_diff"]
    missing = acme_user.get(f"/api/v1/flows/{flow.public_id}/versions/1/diff/9")
    assert missing.status_code == 404
    other = globex_user.get(f"/api/v1/flows/{flow.public_id}/versions/1/diff/2")
    assert other.status_code == 404
