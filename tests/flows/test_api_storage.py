"""The API over real object storage: S3 end to end, and 503 when storage fails."""

from __future__ import annotations

import pytest
from django.core.files.storage import FileSystemStorage, storages

from flows.models import Flow, FlowVersion
from tests.flows.conftest import graph_variant, s3_storage_config, stored_files, unused_port

FLOWS = "/api/v1/flows"


def assert_storage_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["detail"]["error"] == "flow_storage_unavailable"


# --- S3 end to end ---------------------------------------------------------------------------


def test_flows_live_in_s3_with_every_version_readable(acme_user, s3_flow_storage, graph):
    created = acme_user.post(FLOWS, {"name": "On S3", "content": graph}, format="json")
    assert created.status_code == 201, created.content
    flow_id = created.json()["id"]
    acme_user.put(
        f"{FLOWS}/{flow_id}", {"name": "On S3", "content": graph_variant("2")}, format="json"
    )

    keys = s3_flow_storage.keys()
    assert len(keys) == 2
    assert all(key.startswith(f"{s3_flow_storage.prefix}/acme/{flow_id}/") for key in keys)
    assert acme_user.get(f"{FLOWS}/{flow_id}/versions/1").json()["content"] == graph
    assert acme_user.get(f"{FLOWS}/{flow_id}").json()["content"] == graph_variant("2")


def test_deleting_a_flow_removes_its_s3_objects(
    acme_user, s3_flow_storage, graph, django_capture_on_commit_callbacks
):
    flow_id = acme_user.post(FLOWS, {"name": "On S3", "content": graph}, format="json").json()["id"]
    assert len(s3_flow_storage.keys()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert acme_user.delete(f"{FLOWS}/{flow_id}").status_code == 204
    assert s3_flow_storage.keys() == []


def test_readyz_checks_s3_flow_storage(db, client, s3_flow_storage):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["flow_storage"] == "ok"


# --- Storage failures: 503, nothing half-written ----------------------------------------------


def refuse_save(self, name, content):
    raise OSError(28, "No space left on device")


def refuse_open(self, name, mode="rb"):
    raise OSError(5, "Input/output error")


@pytest.fixture
def failing_writes(monkeypatch):
    monkeypatch.setattr(FileSystemStorage, "_save", refuse_save)


def test_create_when_storage_fails_answers_503_and_saves_nothing(
    acme_user, graph, failing_writes, local_flow_files
):
    response = acme_user.post(FLOWS, {"name": "Lost", "content": graph}, format="json")
    assert_storage_unavailable(response)
    assert not Flow.objects.exists()
    assert not FlowVersion.objects.exists()
    assert stored_files(local_flow_files) == []


def test_update_when_storage_fails_answers_503_and_changes_nothing(
    acme_user, make_flow, monkeypatch, local_flow_files
):
    flow = make_flow(name="Before")
    monkeypatch.setattr(FileSystemStorage, "_save", refuse_save)
    response = acme_user.put(
        f"{FLOWS}/{flow.public_id}", {"name": "After", "content": {"new": 1}}, format="json"
    )
    assert_storage_unavailable(response)
    after = Flow.objects.get(pk=flow.pk)
    assert (after.name, after.version, after.content_sha256) == (
        "Before",
        1,
        flow.content_sha256,
    )
    assert after.versions.count() == 1
    assert len(stored_files(local_flow_files)) == 1


def test_metadata_changes_need_no_storage(acme_user, make_flow, monkeypatch):
    flow = make_flow(name="Before")
    monkeypatch.setattr(FileSystemStorage, "_save", refuse_save)
    monkeypatch.setattr(FileSystemStorage, "_open", refuse_open)
    response = acme_user.patch(f"{FLOWS}/{flow.public_id}", {"name": "After"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "After"


def test_reading_when_storage_fails_answers_503(acme_user, make_flow, monkeypatch):
    flow = make_flow()
    monkeypatch.setattr(FileSystemStorage, "_open", refuse_open)
    assert_storage_unavailable(acme_user.get(f"{FLOWS}/{flow.public_id}"))
    assert_storage_unavailable(acme_user.get(f"{FLOWS}/{flow.public_id}/versions/1"))
    # What lives in the database alone still answers.
    assert acme_user.get(FLOWS).status_code == 200
    assert acme_user.get(f"{FLOWS}/{flow.public_id}/versions").status_code == 200


def test_a_missing_object_answers_503(acme_user, make_flow):
    flow = make_flow()
    storages["flows"].delete(flow.versions.get().storage_key)
    assert_storage_unavailable(acme_user.get(f"{FLOWS}/{flow.public_id}"))


def test_a_tampered_object_answers_503(acme_user, make_flow, local_flow_files):
    flow = make_flow()
    (local_flow_files / flow.versions.get().storage_key).write_bytes(b'{"tampered":true}')
    assert_storage_unavailable(acme_user.get(f"{FLOWS}/{flow.public_id}"))


def test_an_unreachable_s3_answers_503_and_saves_nothing(acme_user, graph, settings, monkeypatch):
    endpoint = f"http://127.0.0.1:{unused_port()}"
    config = s3_storage_config(monkeypatch, endpoint=endpoint, prefix="down")
    settings.STORAGES = {**settings.STORAGES, "flows": config}
    response = acme_user.post(FLOWS, {"name": "Lost", "content": graph}, format="json")
    assert_storage_unavailable(response)
    assert not Flow.objects.exists()
