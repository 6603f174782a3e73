"""Fault injection: status, slow, hang, race, drop; `times`; method and path matching."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.devstack.conftest import CORES, CREATE_CORE

SCOPES = "/v1/scopes"


def test_status_fault_answers_without_doing_the_work(devstack, grid):
    fault = devstack.fault(
        "POST", CORES, status=503, body={"error": "unavailable", "message": "down"}
    )

    response = grid.create_core()

    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message": "down"}
    assert devstack.state()["cores"] == {}
    assert devstack.calls(CREATE_CORE)[0]["fault"] == fault["id"]


def test_status_fault_with_a_default_body(devstack, grid):
    devstack.fault("GET", SCOPES, status=500)

    response = grid.get(SCOPES)

    assert response.status_code == 500
    assert response.json()["error"] == "injected_fault"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
        ('{"id": "core_trunc', "application/json"),
    ],
)
def test_status_fault_with_a_raw_body(devstack, grid, body, content_type):
    devstack.fault("POST", CORES, status=502, body=body, content_type=content_type)

    response = grid.create_core()

    assert response.status_code == 502
    assert response.text == body
    assert response.headers["Content-Type"] == content_type


def test_times_limits_a_fault_then_it_is_used_up(devstack, grid):
    devstack.fault("GET", SCOPES, status=503, times=2)

    statuses = [grid.get(SCOPES).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    (fault,) = devstack.state()["faults"]
    assert (fault["hits"], fault["remaining"]) == (2, 0)


def test_a_fault_without_times_applies_forever(devstack, grid):
    devstack.fault("GET", SCOPES, status=503)

    assert {grid.get(SCOPES).status_code for _ in range(4)} == {503}


def test_faults_match_method_and_glob_path(devstack, grid):
    devstack.fault("PUT", f"{CORES}/*", status=500)
    core_id = grid.create_core().json()["id"]

    assert grid.get(f"{CORES}/{core_id}").status_code == 200
    assert grid.put(f"{CORES}/{core_id}", data=b"", headers={}).status_code == 500
    assert grid.post(f"{CORES}/{core_id}/publish", json={}).status_code == 200

    devstack.fault("*", f"{CORES}/*/publish", status=409)
    assert grid.delete(f"{CORES}/{core_id}/publish").status_code == 409
    assert grid.post(f"{CORES}/{core_id}/publish", json={}).status_code == 409


def test_slow_answers_normally_after_the_delay(devstack, grid):
    devstack.fault("POST", SCOPES, "slow", seconds=0.3, times=1)

    started = time.monotonic()
    response = grid.post(SCOPES, json={"slug": "support"})

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 201
    assert "support" in devstack.state()["scopes"]


def test_a_slow_answer_beyond_the_client_timeout(devstack, grid):
    devstack.fault("GET", SCOPES, "slow", seconds=1)

    with pytest.raises(requests.ReadTimeout):
        grid.get(SCOPES, timeout=0.2)


def test_hang_holds_the_connection_and_blocks_nothing_else(devstack, grid, client_for):
    devstack.fault("POST", CORES, "hang", seconds=30)
    other = client_for(devstack.api_key)
    outcome: list[BaseException] = []

    def hung_call() -> None:
        try:
            grid.create_core(headers={"Idempotency-Key": "k"})
        except requests.RequestException as exc:
            outcome.append(exc)

    started = time.monotonic()
    caller = threading.Thread(target=hung_call)
    caller.start()
    while not devstack.calls(CREATE_CORE):
        time.sleep(0.01)
    assert other.get(SCOPES, timeout=2).status_code == 200
    assert caller.is_alive()
    devstack.clear_faults()
    caller.join(timeout=5)

    assert not caller.is_alive()
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], requests.ConnectionError)
    (call,) = devstack.calls(CREATE_CORE)
    assert call["status"] is None and call["idempotency_key"] == "k"


def test_hang_with_a_client_timeout(devstack, grid):
    devstack.fault("GET", SCOPES, "hang")

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        grid.get(SCOPES, timeout=0.3)

    assert time.monotonic() - started < 10  # the hang itself lasts 30 s


def test_a_hang_ends_after_its_seconds(devstack, grid):
    devstack.fault("GET", SCOPES, "hang", seconds=0.2)

    with pytest.raises(requests.ConnectionError):
        grid.get(SCOPES, timeout=3)


def test_race_does_the_work_then_answers_409(devstack, grid):
    devstack.fault("POST", SCOPES, "race", times=1)

    lost = grid.post(SCOPES, json={"slug": "support", "name": "Support"})

    assert lost.status_code == 409
    assert lost.json()["error"] == "conflict"
    assert devstack.state()["scopes"]["support"]["name"] == "Support"
    assert grid.get(SCOPES, params={"slug": "support"}).json()["items"][0]["slug"] == "support"


def test_race_on_create_core_leaves_exactly_one_core(devstack, grid):
    devstack.fault("POST", CORES, "race", times=1)

    assert grid.create_core(headers={"Idempotency-Key": "dep-7"}).status_code == 409
    retried = grid.create_core(headers={"Idempotency-Key": "dep-7"})

    assert retried.status_code == 201
    assert list(devstack.state()["cores"]) == [retried.json()["id"]]
    assert devstack.count(CREATE_CORE) == 2


def test_drop_closes_the_connection_without_an_answer(devstack, grid):
    devstack.fault("POST", SCOPES, "drop", times=1)

    with pytest.raises(requests.ConnectionError):
        grid.post(SCOPES, json={"slug": "support"})

    assert devstack.state()["scopes"] == {}
    assert grid.post(SCOPES, json={"slug": "support"}).status_code == 201


def test_faults_through_the_control_api(devstack, grid):
    url = f"{devstack.url}/_devstack/faults"

    added = requests.post(
        url,
        json={"method": "GET", "path": "/v1/scopes", "action": "status", "status": 418, "times": 1},
        timeout=5,
    )
    listed = requests.get(url, timeout=5).json()["faults"]
    answered = grid.get(SCOPES)
    cleared = requests.delete(url, timeout=5)

    assert added.status_code == 201, added.text
    assert added.json()["id"] == listed[0]["id"]
    assert listed[0]["times"] == 1 and listed[0]["hits"] == 0
    assert answered.status_code == 418
    assert cleared.status_code == 204
    assert requests.get(url, timeout=5).json() == {"faults": []}


def test_remove_one_fault(devstack, grid):
    first = devstack.fault("GET", SCOPES, status=500)
    devstack.fault("POST", SCOPES, status=500)

    assert requests.delete(f"{devstack.url}/_devstack/faults/{first['id']}", timeout=5).ok
    assert requests.delete(f"{devstack.url}/_devstack/faults/flt_99", timeout=5).status_code == 404
    assert grid.get(SCOPES).status_code == 200
    assert grid.post(SCOPES, json={"slug": "s"}).status_code == 500


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "/v1/scopes", "action": "explode"},
        {"path": "/v1/scopes", "action": "status"},
        {"path": "/v1/scopes", "action": "status", "status": 1000},
        {"path": "v1/scopes", "action": "drop"},
        {"path": "/v1/scopes", "action": "slow", "seconds": -1},
        {"path": "/v1/scopes", "action": "drop", "times": 0},
        ["not", "an", "object"],
    ],
)
def test_invalid_faults_are_400(devstack, spec):
    response = requests.post(f"{devstack.url}/_devstack/faults", json=spec, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_the_control_api_is_never_faulted(devstack):
    devstack.fault("*", "*", status=500)

    assert requests.get(f"{devstack.url}/_devstack/state", timeout=5).status_code == 200


def test_the_first_matching_fault_wins(devstack, grid):
    devstack.fault("GET", SCOPES, status=501, times=1)
    devstack.fault("GET", "/v1/*", status=502)

    assert [grid.get(SCOPES).status_code for _ in range(2)] == [501, 502]


def test_clearing_faults_lets_a_slow_request_go_without_doing_it(devstack, grid):
    devstack.fault("POST", SCOPES, "slow", seconds=30)
    outcome: list[BaseException] = []

    def slow_call() -> None:
        try:
            grid.post(SCOPES, json={"slug": "late"})
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    while not devstack.calls(f"POST {SCOPES}"):
        time.sleep(0.01)
    devstack.reset()
    caller.join(timeout=5)

    assert isinstance(outcome[0], requests.ConnectionError)
    assert devstack.state()["scopes"] == {}


def test_release_lets_a_held_slow_request_answer_now(devstack, grid):
    fault = devstack.fault("POST", SCOPES, "slow", seconds=600)
    answers: list[requests.Response] = []
    caller = threading.Thread(
        target=lambda: answers.append(grid.post(SCOPES, json={"slug": "a"}, timeout=60))
    )
    caller.start()
    while not devstack.state()["faults"][0]["hits"]:
        time.sleep(0.01)
    assert not answers

    released = requests.post(f"{devstack.url}/_devstack/faults/{fault['id']}/release", timeout=5)
    caller.join(timeout=30)

    assert released.status_code == 200 and released.json()["released"] is True
    assert [a.status_code for a in answers] == [201]
    assert "a" in devstack.state()["scopes"]
    # Later requests through the released fault are not held either.
    assert grid.post(SCOPES, json={"slug": "b"}, timeout=5).status_code == 201


def test_release_of_an_unknown_fault_is_404(devstack):
    response = requests.post(f"{devstack.url}/_devstack/faults/flt_99/release", timeout=5)
    assert response.status_code == 404
