"""ScaiGrid and ScaiQueue clients at the HTTP seam (responses)."""

import json

import pytest
import responses

from deployments.clients.http import UpstreamError
from deployments.clients.scaigrid import ScaiGridClient
from deployments.clients.scaiqueue import ProvisionError, ScaiQueueClient

GRID = "https://grid.test"
QUEUE = "https://queue.test"
CORES = f"{GRID}/v1/modules/scaicore/cores"


@pytest.fixture
def grid():
    return ScaiGridClient(base_url=GRID, credential="sgk_secret")


@pytest.fixture
def queue():
    return ScaiQueueClient(base_url=QUEUE, credential="sgk_secret")


@responses.activate
def test_create_core_sends_yaml_and_idempotency_key(grid):
    responses.post(CORES, json={"id": "core_1"}, status=201)
    assert grid.create_core(manifest="kind: Core\n", idempotency_key="dep_1") == "core_1"
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/yaml"
    assert request.headers["Idempotency-Key"] == "dep_1"
    assert request.body == b"kind: Core\n"


@responses.activate
@pytest.mark.parametrize("body", [{"name": "x"}, {"id": ""}, {"id": 7}])
def test_create_core_without_id_is_an_upstream_error(grid, body):
    responses.post(CORES, json=body, status=201)
    with pytest.raises(UpstreamError):
        grid.create_core(manifest="m", idempotency_key="k")


@responses.activate
def test_update_core_404_means_gone(grid):
    responses.put(f"{CORES}/core_1", status=404, json={"error": "not_found"})
    assert grid.update_core(core_id="core_1", manifest="m") is None


@responses.activate
def test_update_core(grid):
    responses.put(f"{CORES}/core_1", json={"id": "core_1"})
    assert grid.update_core(core_id="core_1", manifest="m") == "core_1"


@responses.activate
def test_publish_and_unpublish(grid):
    responses.post(f"{CORES}/core_1/publish", json={"slug": "support-triage"})
    responses.delete(f"{CORES}/core_1/publish", status=404)
    assert grid.publish(core_id="core_1", group_ids=["g1"]) == "support-triage"
    assert json.loads(responses.calls[0].request.body) == {"group_ids": ["g1"]}
    grid.unpublish(core_id="core_1")  # 404: was not published, fine


@responses.activate
def test_unpublish_failure(grid):
    responses.delete(f"{CORES}/core_1/publish", status=500, json={"message": "boom"})
    with pytest.raises(UpstreamError) as caught:
        grid.unpublish(core_id="core_1")
    assert caught.value.status == 500


@responses.activate
def test_events(grid):
    responses.get(
        f"{GRID}/v1/modules/scaicore/events", json={"events": [{"id": 1}], "cursor": "c2"}
    )
    assert grid.events(core_id="core_1", since="c1") == {"events": [{"id": 1}], "cursor": "c2"}
    assert "since=c1" in responses.calls[0].request.url


def test_credential_not_in_repr(grid, queue):
    assert "sgk_secret" not in repr(grid)
    assert "sgk_secret" not in repr(queue)


SCOPE = {"slug": "support", "name": "Support", "config": {"tier": "gold"}}


@responses.activate
def test_ensure_scope_finds_existing(queue):
    responses.get(
        f"{QUEUE}/v1/scopes", json={"items": [{**SCOPE, "config": {"tier": "gold", "x": 1}}]}
    )
    assert queue.ensure_scope(SCOPE)["slug"] == "support"
    assert len(responses.calls) == 1  # no create


@responses.activate
def test_ensure_scope_creates_when_missing(queue):
    responses.get(f"{QUEUE}/v1/scopes", json={"items": []})
    responses.post(f"{QUEUE}/v1/scopes", status=201, json=SCOPE)
    responses.get(f"{QUEUE}/v1/scopes", json={"items": [SCOPE]})
    queue.ensure_scope(SCOPE)
    assert json.loads(responses.calls[1].request.body) == SCOPE


@responses.activate
def test_ensure_scope_409_lists_again(queue):
    responses.get(f"{QUEUE}/v1/scopes", json={"items": []})
    responses.post(f"{QUEUE}/v1/scopes", status=409)
    responses.get(f"{QUEUE}/v1/scopes", json={"items": [SCOPE]})
    assert queue.ensure_scope(SCOPE)["name"] == "Support"


@responses.activate
def test_ensure_scope_still_missing_aborts(queue):
    responses.get(f"{QUEUE}/v1/scopes", json={"items": []})
    responses.post(f"{QUEUE}/v1/scopes", status=409)
    with pytest.raises(ProvisionError) as caught:
        queue.ensure_scope(SCOPE)
    assert caught.value.scope == "support"


@responses.activate
@pytest.mark.parametrize(
    "upstream",
    [{**SCOPE, "name": "Other"}, {**SCOPE, "config": {"tier": "silver"}}, {**SCOPE, "config": {}}],
)
def test_ensure_scope_contradiction_aborts(queue, upstream):
    responses.get(f"{QUEUE}/v1/scopes", json={"items": [upstream]})
    with pytest.raises(ProvisionError):
        queue.ensure_scope(SCOPE)


@responses.activate
def test_ensure_queue(queue):
    spec = {"slug": "review", "name": "Human review", "config": {"sla_minutes": 60}}
    url = f"{QUEUE}/v1/scopes/support/queues"
    responses.get(url, json={"items": [{"slug": "review-2"}]})  # only an exact slug counts
    responses.post(url, status=201)
    responses.get(url, json={"items": [spec]})
    assert queue.ensure_queue("support", spec) == spec


@responses.activate
def test_ensure_queue_permission_denied_keeps_upstream_code(queue):
    responses.get(
        f"{QUEUE}/v1/scopes/support/queues",
        status=403,
        json={"error": "permission_denied", "message": "need scaiqueue:manage"},
    )
    with pytest.raises(UpstreamError) as caught:
        queue.ensure_queue("support", {"slug": "review"})
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    assert caught.value.message == "need scaiqueue:manage"
