"""Versions: history, old content stays readable, If-Match, no version for equal content."""

from __future__ import annotations

import hashlib

import pytest

from flows.models import Flow, FlowVersion
from tests.flows.conftest import graph_variant, stored_files

FLOWS = "/api/v1/flows"


@pytest.fixture
def flow_id(acme_user, graph) -> str:
    response = acme_user.post(FLOWS, {"name": "Support triage", "content": graph}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def put_content(client, flow_id: str, content: dict, **headers):
    return client.put(
        f"{FLOWS}/{flow_id}",
        {"name": "Support triage", "content": content},
        format="json",
        **headers,
    )


def test_each_content_change_makes_a_version_and_old_ones_stay_readable(acme_user, flow_id, graph):
    for label in ("second", "third"):
        assert put_content(acme_user, flow_id, graph_variant(label)).status_code == 200
    versions = acme_user.get(f"{FLOWS}/{flow_id}/versions").json()
    assert versions["count"] == 3
    assert [v["version"] for v in versions["results"]] == [3, 2, 1]
    assert set(versions["results"][0]) == {
        "version",
        "content_sha256",
        "size",
        "created_by",
        "created_at",
    }
    assert versions["results"][0]["created_by"] == "scaikey:alice"

    expected = {1: graph, 2: graph_variant("second"), 3: graph_variant("third")}
    for number, content in expected.items():
        response = acme_user.get(f"{FLOWS}/{flow_id}/versions/{number}")
        assert response.status_code == 200
        body = response.json()
        assert body["version"] == number
        assert body["content"] == content
    detail = acme_user.get(f"{FLOWS}/{flow_id}").json()
    assert detail["version"] == 3
    assert detail["content"] == graph_variant("third")
    assert detail["content_sha256"] == versions["results"][0]["content_sha256"]


def test_a_version_hash_and_size_describe_the_stored_object(acme_user, flow_id, local_flow_files):
    version = acme_user.get(f"{FLOWS}/{flow_id}/versions").json()["results"][0]
    (stored,) = stored_files(local_flow_files)
    assert version["content_sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert version["size"] == stored.stat().st_size


@pytest.mark.parametrize("number", ["2", "0", "99999999999999999999"])
def test_a_version_that_does_not_exist_is_not_found(acme_user, flow_id, number):
    response = acme_user.get(f"{FLOWS}/{flow_id}/versions/{number}")
    assert response.status_code == 404
    assert response.json()["detail"]["error"] == "not_found"


def test_a_version_that_is_not_a_number_is_not_found(acme_user, flow_id):
    response = acme_user.get(f"{FLOWS}/{flow_id}/versions/latest")
    assert response.status_code == 404
    assert response.json()["detail"]["error"] == "not_found"


# --- Equal content makes no version ------------------------------------------------------------


def test_identical_content_makes_no_version(acme_user, flow_id, graph, local_flow_files):
    before = Flow.objects.get(public_id=flow_id)
    # Same content, keys in another order: the canonical JSON is the same.
    reordered = {key: graph[key] for key in reversed(list(graph))}
    response = put_content(acme_user, flow_id, reordered)
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response["ETag"] == '"1"'
    after = Flow.objects.get(public_id=flow_id)
    assert after.updated_at == before.updated_at
    assert FlowVersion.objects.count() == 1
    assert len(stored_files(local_flow_files)) == 1


def test_name_and_description_changes_make_no_version(acme_user, flow_id, graph):
    response = acme_user.put(
        f"{FLOWS}/{flow_id}",
        {"name": "Renamed", "description": "Now described", "content": graph},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["version"]) == ("Renamed", "Now described", 1)
    assert FlowVersion.objects.count() == 1


# --- If-Match ---------------------------------------------------------------------------------


@pytest.mark.parametrize("if_match", ['"1"', "1", 'W/"1"', "*", '"7", "1"'])
def test_if_match_naming_the_current_version_lets_the_change_through(acme_user, flow_id, if_match):
    response = put_content(acme_user, flow_id, graph_variant("x"), HTTP_IF_MATCH=if_match)
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2


@pytest.mark.parametrize("if_match", ['"2"', "0", '"one"', "1.0"])
def test_if_match_naming_another_version_is_a_version_conflict(
    acme_user, flow_id, if_match, local_flow_files
):
    response = put_content(acme_user, flow_id, graph_variant("x"), HTTP_IF_MATCH=if_match)
    assert response.status_code == 412
    detail = response.json()["detail"]
    assert detail["error"] == "version_conflict"
    assert detail["current_version"] == 1
    assert Flow.objects.get(public_id=flow_id).version == 1
    assert len(stored_files(local_flow_files)) == 1


def test_a_stale_if_match_after_someone_else_saved_is_a_version_conflict(
    acme_user, acme_bob, flow_id
):
    etag = acme_user.get(f"{FLOWS}/{flow_id}")["ETag"]
    assert (
        put_content(acme_bob, flow_id, graph_variant("bob"), HTTP_IF_MATCH=etag).status_code == 200
    )
    response = put_content(acme_user, flow_id, graph_variant("alice"), HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    assert response.json()["detail"]["current_version"] == 2
    detail = acme_user.get(f"{FLOWS}/{flow_id}").json()
    assert detail["content"] == graph_variant("bob")


def test_if_match_applies_to_patch_and_to_metadata_only_changes(acme_user, flow_id):
    stale = acme_user.patch(
        f"{FLOWS}/{flow_id}", {"name": "Nope"}, format="json", HTTP_IF_MATCH='"5"'
    )
    assert stale.status_code == 412
    current = acme_user.patch(
        f"{FLOWS}/{flow_id}", {"name": "Yes"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert current.status_code == 200
    assert current.json()["name"] == "Yes"


def test_if_match_on_delete(acme_user, flow_id):
    stale = acme_user.delete(f"{FLOWS}/{flow_id}", HTTP_IF_MATCH='"3"')
    assert stale.status_code == 412
    assert stale.json()["detail"]["error"] == "version_conflict"
    assert Flow.objects.filter(public_id=flow_id).exists()
    assert acme_user.delete(f"{FLOWS}/{flow_id}", HTTP_IF_MATCH="1").status_code == 204
    assert not Flow.objects.filter(public_id=flow_id).exists()


def test_without_if_match_the_last_writer_builds_on_the_first(acme_user, acme_bob, flow_id):
    put_content(acme_user, flow_id, graph_variant("alice"))
    put_content(acme_bob, flow_id, graph_variant("bob"))
    versions = acme_user.get(f"{FLOWS}/{flow_id}/versions").json()["results"]
    assert [(v["version"], v["created_by"]) for v in versions] == [
        (3, "scaikey:bob"),
        (2, "scaikey:alice"),
        (1, "scaikey:alice"),
    ]
