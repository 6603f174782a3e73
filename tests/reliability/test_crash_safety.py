"""Crash safety: the server dies (SIGKILL) between a deploy's Core create and its publish.

gunicorn serves ScaiFlow in a subprocess; devstack holds the publish call (a `hang` fault)
until the server is killed. After a restart the interrupted record is still `pending` with
its Core id; once it is older than SCAIFLOW_DEPLOY_ABANDONED_SECONDS (shortened here), the
next deploy closes it as failed `deploy_abandoned`, keeps its Core id, and updates that Core.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
import requests

from tests.deployments.conftest import SIMPLE_FLOW

pytestmark = pytest.mark.reliability

ABANDONED_SECONDS = 5
PUBLISH = "/v1/modules/scaicore/cores/*/publish"


def _wait_until(predicate, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_server_killed_between_create_and_publish(app_servers, devstack, server_logs):
    app_servers.env["SCAIFLOW_DEPLOY_ABANDONED_SECONDS"] = str(ABANDONED_SECONDS)
    server = app_servers.start()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {devstack.mint_token(tenant='acme')}"
    content = {**SIMPLE_FLOW, "config": {**SIMPLE_FLOW["config"], "publish_as_model": True}}
    created = api.post(
        f"{server.url}/api/v1/flows", json={"name": "Crash", "content": content}, timeout=30
    )
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    devstack.fault("POST", PUBLISH, "hang", seconds=300)

    outcome: list[object] = []

    def deploy() -> None:
        try:
            outcome.append(api.post(f"{server.url}/api/v1/flows/{flow_id}/deploy", timeout=120))
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=deploy)
    caller.start()
    _wait_until(lambda: devstack.state()["faults"][0]["hits"] == 1, "the publish call")
    server.kill()
    caller.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError), outcome
    devstack.clear_faults()

    server = app_servers.start(port=server.port)
    records = api.get(f"{server.url}/api/v1/flows/{flow_id}/deployments", timeout=30).json()
    (interrupted,) = records["results"]
    core_id = interrupted["core_id"]
    assert interrupted["status"] == "pending" and core_id, interrupted
    assert [(s["name"], s["status"]) for s in interrupted["steps"]][-1] == ("core", "succeeded")

    # Deployable again once the interrupted attempt is older than the abandonment window.
    started = datetime.fromisoformat(interrupted["created_at"].replace("Z", "+00:00"))
    pause = started.timestamp() + ABANDONED_SECONDS + 0.5 - time.time()
    time.sleep(max(0.0, pause))
    again = api.post(f"{server.url}/api/v1/flows/{flow_id}/deploy", timeout=60)
    assert again.status_code == 201, (again.text, server_logs())
    body = again.json()
    assert (body["status"], body["core_action"], body["core_id"]) == (
        "succeeded", "updated", core_id,
    )  # fmt: skip
    assert body["published_slug"]

    closed = api.get(f"{server.url}/api/v1/deployments/{interrupted['id']}", timeout=30).json()
    assert (closed["status"], closed["error"]["error"], closed["core_id"]) == (
        "failed", "deploy_abandoned", core_id,
    )  # fmt: skip
    assert closed["finished_at"]
    assert devstack.count("POST /v1/modules/scaicore/cores") == 1
