"""ScaiGrid's scaicore endpoints: cores, idempotency, the verifier, publish, events."""

from __future__ import annotations

import pytest
import yaml

from tests.devstack.conftest import CORES, CREATE_CORE, EVENTS, MANIFEST, YAML


def test_create_core_records_the_manifest(devstack, grid):
    response = grid.create_core()

    assert response.status_code == 201, response.text
    core = response.json()
    assert core["id"].startswith("core_")
    assert core["slug"] == "support-triage"
    assert core["version"] == 1
    assert core["published"] is False
    recorded = devstack.state()["cores"][core["id"]]
    assert recorded["manifest"] == MANIFEST
    assert recorded["parsed"] == yaml.safe_load(MANIFEST)
    assert recorded["published"] is False


def test_create_core_wants_yaml(grid):
    response = grid.post(CORES, json={"apiVersion": "scaicore/v1"})

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_same_idempotency_key_gives_the_same_core(devstack, grid):
    first = grid.create_core(headers={"Idempotency-Key": "dep-1"})
    again = grid.create_core(headers={"Idempotency-Key": "dep-1"})
    other = grid.create_core(headers={"Idempotency-Key": "dep-2"})

    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]
    assert len(devstack.state()["cores"]) == 2
    assert devstack.count(CREATE_CORE) == 3


def test_idempotency_key_reused_with_another_manifest(devstack, grid):
    grid.create_core(headers={"Idempotency-Key": "dep-1"})

    response = grid.create_core(
        MANIFEST.replace("Support triage", "Other"), headers={"Idempotency-Key": "dep-1"}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert len(devstack.state()["cores"]) == 1


def test_without_idempotency_key_each_create_is_a_new_core(devstack, grid):
    grid.create_core()
    grid.create_core()

    assert len(devstack.state()["cores"]) == 2


BAD_MANIFESTS = {
    "yaml_does_not_parse": ("apiVersion: [unclosed\n", "YAML does not parse"),
    "not_a_mapping": ("- just\n- a list\n", "mapping"),
    "no_api_version": (MANIFEST.replace("apiVersion: scaicore/v1\n", ""), "apiVersion"),
    "wrong_api_version": (MANIFEST.replace("scaicore/v1", "scaicore/v9"), "apiVersion"),
    "no_kind": (MANIFEST.replace("kind: Core\n", ""), "kind is missing"),
    "no_blocks": (MANIFEST.split("  blocks:")[0], "spec.blocks"),
    "unknown_next": (MANIFEST.replace("next: classify", "next: nowhere"), "'nowhere'"),
    "unknown_next_in_list": (MANIFEST.replace("next: [route]", "next: [route, gone]"), "'gone'"),
    "unknown_default": (MANIFEST.replace("default: reply", "default: missing"), "'missing'"),
    "unknown_case_next": (MANIFEST.replace("next: reply}]", "next: lost}]"), "'lost'"),
    "unknown_entry": (MANIFEST.replace("entry: start", "entry: begin"), "'begin'"),
    "unknown_block_kind": (MANIFEST.replace("kind: output", "kind: email"), "'email'"),
    "duplicate_id": (MANIFEST.replace("id: reply", "id: start"), "twice"),
}


@pytest.mark.parametrize("name", BAD_MANIFESTS)
def test_verifier_rejects(devstack, grid, name):
    manifest, fragment = BAD_MANIFESTS[name]

    response = grid.create_core(manifest)

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "verifier_error"
    assert body["message"].startswith("verifier error: ")
    assert fragment in body["message"]
    assert devstack.state()["cores"] == {}


def test_verifier_reports_every_problem(grid):
    manifest = MANIFEST.replace("kind: Core\n", "").replace("next: classify", "next: nowhere")

    problems = grid.create_core(manifest).json()["problems"]

    assert len(problems) == 2


def test_update_core(devstack, grid):
    core_id = grid.create_core().json()["id"]
    changed = MANIFEST.replace("value: done", "value: changed")

    response = grid.put(f"{CORES}/{core_id}", data=changed, headers=YAML)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == core_id
    assert response.json()["version"] == 2
    assert devstack.state()["cores"][core_id]["manifest"] == changed


def test_update_unknown_core_is_404(grid):
    response = grid.put(f"{CORES}/core_unknown", data=MANIFEST, headers=YAML)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_update_is_verified(devstack, grid):
    core_id = grid.create_core().json()["id"]

    response = grid.put(f"{CORES}/{core_id}", data="kind: Core\n", headers=YAML)

    assert response.status_code == 400
    assert response.json()["error"] == "verifier_error"
    assert devstack.state()["cores"][core_id]["version"] == 1


def test_publish_and_unpublish(devstack, grid):
    core_id = grid.create_core().json()["id"]

    published = grid.post(f"{CORES}/{core_id}/publish", json={"group_ids": ["grp_support"]})

    assert published.status_code == 200, published.text
    assert published.json()["slug"] == "support-triage"
    core = devstack.state()["cores"][core_id]
    assert core["published"] is True
    assert core["slug"] == "support-triage"
    assert core["group_ids"] == ["grp_support"]

    assert grid.delete(f"{CORES}/{core_id}/publish").status_code == 204
    assert devstack.state()["cores"][core_id]["published"] is False

    again = grid.delete(f"{CORES}/{core_id}/publish")
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"


def test_publish_unknown_core_is_404(grid):
    assert grid.post(f"{CORES}/core_nope/publish", json={"group_ids": []}).status_code == 404
    assert grid.delete(f"{CORES}/core_nope/publish").status_code == 404


def test_publish_wants_a_list_of_group_ids(grid):
    core_id = grid.create_core().json()["id"]

    response = grid.post(f"{CORES}/{core_id}/publish", json={"group_ids": "grp"})

    assert response.status_code == 400


def test_get_core(grid):
    core_id = grid.create_core().json()["id"]

    assert grid.get(f"{CORES}/{core_id}").json()["id"] == core_id
    assert grid.get(f"{CORES}/core_nope").status_code == 404


def test_a_deployed_core_has_run_events(grid):
    core_id = grid.create_core().json()["id"]

    response = grid.get(EVENTS, params={"core_id": core_id})

    assert response.status_code == 200, response.text
    body = response.json()
    types = [event["type"] for event in body["events"]]
    assert types[0] == "run.started"
    assert "block.completed" in types
    assert types[-1] == "run.finished"
    for event in body["events"]:
        assert event["core_id"] == core_id
        assert event["id"] and event["timestamp"] and event["run_id"]
    timestamps = [event["timestamp"] for event in body["events"]]
    assert timestamps == sorted(timestamps)
    assert len(set(timestamps)) == len(timestamps)
    assert isinstance(body["cursor"], str) and body["cursor"]


def test_events_since_a_cursor(devstack, grid):
    core_id = grid.create_core().json()["id"]
    first = grid.get(EVENTS, params={"core_id": core_id}).json()

    nothing_new = grid.get(EVENTS, params={"core_id": core_id, "since": first["cursor"]}).json()
    run_id = devstack.run_core(core_id)
    news = grid.get(EVENTS, params={"core_id": core_id, "since": first["cursor"]}).json()

    assert nothing_new["events"] == []
    assert nothing_new["cursor"] == first["cursor"]
    assert news["events"]
    assert {event["run_id"] for event in news["events"]} == {run_id}
    assert not {e["id"] for e in news["events"]} & {e["id"] for e in first["events"]}


def test_events_are_per_core(grid):
    first = grid.create_core().json()["id"]
    second = grid.create_core().json()["id"]

    events = grid.get(EVENTS, params={"core_id": first}).json()["events"]

    assert events and {event["core_id"] for event in events} == {first}
    assert second != first


def test_an_update_runs_the_core_again(grid):
    core_id = grid.create_core().json()["id"]
    cursor = grid.get(EVENTS, params={"core_id": core_id}).json()["cursor"]
    grid.put(f"{CORES}/{core_id}", data=MANIFEST, headers=YAML)

    events = grid.get(EVENTS, params={"core_id": core_id, "since": cursor}).json()["events"]

    assert events[0]["type"] == "run.started"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "invalid_request"),
        ({"core_id": "core_nope"}, 404, "not_found"),
        ({"core_id": "CORE", "since": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"core_id": "CORE", "limit": "0"}, 400, "invalid_request"),
    ],
)
def test_events_errors(grid, params, status, code):
    core_id = grid.create_core().json()["id"]
    params = {name: core_id if value == "CORE" else value for name, value in params.items()}

    response = grid.get(EVENTS, params=params)

    assert response.status_code == status
    assert response.json()["error"] == code


def test_another_tenants_core_is_not_found(devstack, client_for):
    acme = client_for(devstack.mint_token("acme", "alice"))
    globex = client_for(devstack.mint_token("globex", "gus"))
    core_id = acme.create_core().json()["id"]

    assert globex.get(EVENTS, params={"core_id": core_id}).status_code == 404
    assert globex.put(f"{CORES}/{core_id}", data=MANIFEST, headers=YAML).status_code == 404
    assert acme.get(EVENTS, params={"core_id": core_id}).status_code == 200
    assert devstack.state()["cores"][core_id]["tenant"] == "acme"
