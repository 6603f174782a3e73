"""The control API (`/_devstack/...`), the call log, resets, and the fixture's own promises."""

from __future__ import annotations

import pytest
import requests

from tests.devstack.conftest import CORES, CREATE_CORE, EVENTS


def control(devstack, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{devstack.url}/_devstack{path}", timeout=5, **kwargs)


def test_state_snapshot_shape(devstack, grid):
    grid.create_core()

    state = control(devstack, "GET", "/state").json()

    assert set(state) >= {
        "cores", "scopes", "queues", "secrets", "keys", "events", "calls", "counts", "faults",
        "scaikey",
    }  # fmt: skip
    (core,) = state["cores"].values()
    assert set(core) >= {"manifest", "parsed", "published", "slug", "group_ids", "version"}
    assert state["counts"] == {CREATE_CORE: 1}
    assert state["scaikey"]["jwks_url"] == devstack.jwks_url


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/state"), ("POST", "/state/reset")])
def test_reset_forgets_everything(devstack, grid, method, path):
    grid.create_core()
    grid.post("/v1/scopes", json={"slug": "support"})
    devstack.fault("GET", "/v1/scopes", status=500)
    key = devstack.register_key(["scaiqueue:manage"])

    assert control(devstack, method, path).status_code == 204

    state = devstack.state()
    assert state["cores"] == {} and state["scopes"] == {} and state["faults"] == []
    assert state["calls"] == [] and state["counts"] == {} and state["events"] == []
    assert key not in [k["key"] for k in state["keys"]]
    assert devstack.api_key in [k["key"] for k in state["keys"]]
    assert grid.get("/v1/scopes").status_code == 200


def test_register_list_and_remove_keys(devstack, client_for):
    registered = control(
        devstack, "POST", "/keys", json={"permissions": ["scaiqueue:manage"], "tenant": "acme"}
    )

    assert registered.status_code == 201, registered.text
    key = registered.json()["key"]
    assert registered.json()["permissions"] == ["scaiqueue:manage"]
    assert key in [k["key"] for k in control(devstack, "GET", "/keys").json()["keys"]]
    client = client_for(key)
    assert client.get("/v1/scopes").status_code == 200
    assert client.create_core().status_code == 403

    assert control(devstack, "DELETE", f"/keys/{key}").status_code == 204
    assert client.get("/v1/scopes").status_code == 401
    assert control(devstack, "DELETE", f"/keys/{key}").status_code == 404


def test_register_a_chosen_key(devstack, client_for):
    control(devstack, "POST", "/keys", json={"key": "sgk_mine", "permissions": []})

    response = client_for("sgk_mine").get("/v1/scopes")

    assert response.status_code == 403
    assert response.json()["message"] == "need scaiqueue:manage"


@pytest.mark.parametrize(
    "body",
    [{"permissions": ["scaiqueue:everything"]}, {"permissions": "scaiqueue:manage"}, []],
)
def test_invalid_keys_are_400(devstack, body):
    assert control(devstack, "POST", "/keys", json=body).status_code == 400


def test_a_run_adds_events(devstack, grid):
    core_id = grid.create_core().json()["id"]
    before = len(grid.get(EVENTS, params={"core_id": core_id}).json()["events"])

    response = control(devstack, "POST", f"/cores/{core_id}/runs")

    assert response.status_code == 201
    events = grid.get(EVENTS, params={"core_id": core_id}).json()["events"]
    assert len(events) == 2 * before
    assert events[-1]["run_id"] == response.json()["run_id"]
    assert control(devstack, "POST", "/cores/core_nope/runs").status_code == 404


def test_the_call_log(devstack, grid):
    response = grid.create_core(headers={"Idempotency-Key": "dep-1", "X-Request-ID": "req-42"})
    core_id = response.json()["id"]
    grid.put(f"{CORES}/{core_id}", data=b"kind: Core\n", headers={"Content-Type": "text/yaml"})

    calls = devstack.state()["calls"]

    assert response.headers["X-Request-ID"] == "req-42"
    assert [(c["method"], c["endpoint"], c["status"]) for c in calls] == [
        ("POST", CREATE_CORE, 201),
        ("PUT", f"PUT {CORES}/{{id}}", 400),
    ]
    assert calls[0]["request_id"] == "req-42"
    assert calls[0]["idempotency_key"] == "dep-1"
    assert calls[1]["path"] == f"{CORES}/{core_id}"
    assert devstack.count(CREATE_CORE) == 1


def test_unknown_paths_and_methods(devstack, grid):
    assert grid.get("/v1/nothing").status_code == 404
    assert grid.get("/v1/nothing").json()["error"] == "not_found"
    assert grid.patch(CORES).status_code == 405
    assert control(devstack, "PUT", "/state").status_code == 405


def test_rotate_wants_a_boolean(devstack):
    assert (
        control(devstack, "POST", "/scaikey/rotate", json={"retire_old": "yes"}).status_code == 400
    )


def test_one_test_leaves_things_behind(devstack, grid):
    grid.create_core()
    devstack.fault("GET", "/v1/scopes", status=500)
    devstack.register_key(["scaiqueue:manage"], key="sgk_left_behind")


def test_the_next_test_starts_clean(devstack, grid):
    state = devstack.state()

    assert state["cores"] == {} and state["faults"] == [] and state["calls"] == []
    assert "sgk_left_behind" not in [key["key"] for key in state["keys"]]
    assert grid.get("/v1/scopes").status_code == 200
