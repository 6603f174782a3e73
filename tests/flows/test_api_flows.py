"""Flows CRUD through the API (SPEC §3 "Flows")."""

from __future__ import annotations

import re

import pytest

from flows.models import Flow, FlowVersion
from tests.flows.conftest import graph_variant, stored_files

FLOWS = "/api/v1/flows"
FLOW_FIELDS = {
    "id",
    "name",
    "description",
    "version",
    "content_sha256",
    "created_at",
    "updated_at",
    "created_by",
    "latest_deployment",
}


def create(client, **body):
    response = client.post(FLOWS, body, format="json")
    assert response.status_code == 201, response.content
    return response


def test_create_answers_201_with_the_flow_its_location_and_etag(acme_user, graph):
    response = create(acme_user, name="Support triage", description="Routes tickets", content=graph)
    body = response.json()
    assert set(body) == FLOW_FIELDS
    assert re.fullmatch(r"flw_[a-z0-9]{20}", body["id"])
    assert body["name"] == "Support triage"
    assert body["description"] == "Routes tickets"
    assert body["version"] == 1
    assert body["created_by"] == "scaikey:alice"
    assert body["latest_deployment"] is None
    assert len(body["content_sha256"]) == 64
    assert response["Location"] == f"{FLOWS}/{body['id']}"
    assert response["ETag"] == '"1"'
    flow = Flow.objects.get(public_id=body["id"])
    assert flow.tenant.slug == "acme"
    assert flow.versions.get().number == 1


def test_public_ids_are_not_a_sequence(acme_user, graph):
    ids = [create(acme_user, name=f"f{n}", content=graph).json()["id"] for n in range(3)]
    assert len(set(ids)) == 3
    assert all(re.fullmatch(r"flw_[a-z0-9]{20}", flow_id) for flow_id in ids)
    # Consecutive flows share no common prefix beyond `flw_`: nothing to count up from.
    assert len({flow_id[:8] for flow_id in ids}) == 3


def test_description_is_optional(acme_user, graph):
    assert create(acme_user, name="No description", content=graph).json()["description"] == ""


def test_a_draft_that_does_not_compile_can_be_saved(acme_user):
    draft = {"nodes": [{"id": "x", "kind": "not-a-kind"}], "edges": [{"source": "nowhere"}]}
    flow_id = create(acme_user, name="Draft", content=draft).json()["id"]
    assert acme_user.get(f"{FLOWS}/{flow_id}").json()["content"] == draft


def test_the_shared_token_creates_flows_in_the_default_tenant(service_client, graph):
    body = create(service_client, name="Legacy", content=graph).json()
    assert body["created_by"] == "api_token:api-token"
    assert Flow.objects.get(public_id=body["id"]).tenant.slug == "default"


def test_detail_carries_the_content_and_the_etag(acme_user, graph):
    flow_id = create(acme_user, name="Support triage", content=graph).json()["id"]
    response = acme_user.get(f"{FLOWS}/{flow_id}")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert set(body) == FLOW_FIELDS | {"content"}
    assert body["content"] == graph
    assert body["id"] == flow_id


def test_put_replaces_name_description_and_content(acme_user, graph):
    flow_id = create(acme_user, name="Old", description="old", content=graph).json()["id"]
    new_content = graph_variant("v2")
    response = acme_user.put(
        f"{FLOWS}/{flow_id}", {"name": "New", "content": new_content}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == FLOW_FIELDS
    assert (body["name"], body["description"], body["version"]) == ("New", "", 2)
    assert response["ETag"] == '"2"'
    assert acme_user.get(f"{FLOWS}/{flow_id}").json()["content"] == new_content


def test_patch_changes_only_what_it_carries(acme_user, graph):
    flow_id = create(acme_user, name="Old", description="kept", content=graph).json()["id"]
    response = acme_user.patch(f"{FLOWS}/{flow_id}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["version"]) == ("Renamed", "kept", 1)
    detail = acme_user.get(f"{FLOWS}/{flow_id}").json()
    assert detail["content"] == graph


def test_changes_record_who_made_them(acme_user, acme_bob, graph):
    flow_id = create(acme_user, name="Shared", content=graph).json()["id"]
    acme_bob.patch(f"{FLOWS}/{flow_id}", {"content": graph_variant("bob")}, format="json")
    flow = Flow.objects.get(public_id=flow_id)
    assert (flow.created_by, flow.updated_by) == ("scaikey:alice", "scaikey:bob")
    assert flow.versions.get(number=2).author == "scaikey:bob"
    assert acme_user.get(f"{FLOWS}/{flow_id}").json()["created_by"] == "scaikey:alice"


def test_delete_removes_the_flow_its_versions_and_their_objects(
    acme_user, graph, local_flow_files, django_capture_on_commit_callbacks
):
    flow_id = create(acme_user, name="Doomed", content=graph).json()["id"]
    acme_user.put(f"{FLOWS}/{flow_id}", {"name": "Doomed", "content": {"v": 2}}, format="json")
    assert len(stored_files(local_flow_files)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = acme_user.delete(f"{FLOWS}/{flow_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Flow.objects.exists()
    assert not FlowVersion.objects.exists()
    assert stored_files(local_flow_files) == []
    again = acme_user.get(f"{FLOWS}/{flow_id}")
    assert again.status_code == 404
    assert again.json()["detail"]["error"] == "not_found"


def test_an_unknown_flow_is_not_found_on_every_method(acme_user):
    url = f"{FLOWS}/flw_doesnotexist00000000"
    for method in ("get", "put", "patch", "delete"):
        response = getattr(acme_user, method)(url, {"name": "x", "content": {}}, format="json")
        assert response.status_code == 404, method
        assert response.json()["detail"]["error"] == "not_found"


def test_a_request_without_credentials_is_refused(anonymous_client):
    response = anonymous_client.get(FLOWS)
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "not_authenticated"


def test_an_unsupported_method_answers_the_error_body(acme_user):
    response = acme_user.delete(FLOWS)
    assert response.status_code == 405
    assert response.json()["detail"]["error"] == "method_not_allowed"


# --- List ------------------------------------------------------------------------------------


def test_list_is_paginated_newest_change_first(acme_user, graph):
    ids = [create(acme_user, name=f"Flow {n}", content=graph).json()["id"] for n in range(3)]
    # Changing the oldest flow moves it to the top.
    acme_user.patch(f"{FLOWS}/{ids[0]}", {"description": "touched"}, format="json")
    response = acme_user.get(FLOWS, {"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert [flow["id"] for flow in body["results"]] == [ids[0], ids[2]]
    assert set(body["results"][0]) == FLOW_FIELDS
    second = acme_user.get(FLOWS, {"page_size": 2, "page": 2}).json()
    assert [flow["id"] for flow in second["results"]] == [ids[1]]


def test_list_searches_names_in_any_case(acme_user, graph):
    create(acme_user, name="Support triage", content=graph)
    create(acme_user, name="Refund TRIAGE", content=graph)
    create(acme_user, name="Onboarding", content=graph)
    names = [flow["name"] for flow in acme_user.get(FLOWS, {"search": "triage"}).json()["results"]]
    assert sorted(names) == ["Refund TRIAGE", "Support triage"]
    assert acme_user.get(FLOWS, {"search": "nothing like it"}).json()["count"] == 0


def test_an_empty_list_is_fine(acme_user):
    assert acme_user.get(FLOWS).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


@pytest.mark.parametrize("page", ["0", "99", "x"])
def test_a_bad_page_is_not_found_in_the_error_body(acme_user, graph, page):
    create(acme_user, name="One", content=graph)
    response = acme_user.get(FLOWS, {"page": page})
    assert response.status_code == 404
    assert response.json()["detail"]["error"] == "not_found"
