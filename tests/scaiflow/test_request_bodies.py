"""A body that is not a JSON object is a 400 `invalid_request` on every operation."""

from __future__ import annotations

import json

import pytest

from tests.flows.conftest import SUPPORT_TRIAGE

NOT_OBJECTS = [None, [], [{"name": "x"}], 1, "flow", True]


@pytest.fixture
def flow_id(acme_user) -> str:
    created = acme_user.post(
        "/api/v1/flows", {"name": "Bodies", "content": SUPPORT_TRIAGE}, format="json"
    )
    assert created.status_code == 201, created.content
    return created.json()["id"]


def operations(flow_id: str) -> list[tuple[str, str, str]]:
    """(persona, method, path) of every operation that takes a body, and the rollback."""
    flow = f"/api/v1/flows/{flow_id}"
    return [
        ("acme_user", "POST", "/api/v1/flows"),
        ("acme_user", "PUT", flow),
        ("acme_user", "PATCH", flow),
        ("acme_user", "POST", f"{flow}/compile"),
        ("acme_user", "POST", f"{flow}/deploy"),
        ("acme_user", "POST", "/api/v1/deployments/dep_doesnotmatter/rollback"),
        ("acme_admin", "POST", "/api/v1/tenants/me/scaigrid_credentials"),
        ("service_client", "POST", "/api/v1/dev/deploy"),
    ]


@pytest.mark.parametrize("body", NOT_OBJECTS, ids=json.dumps)
def test_every_operation_refuses_a_body_that_is_not_an_object(
    request, flow_id, body, acme_user, acme_admin, service_client
):
    raw = json.dumps(body).encode()
    for persona, method, path in operations(flow_id):
        client = request.getfixturevalue(persona)
        response = client.generic(method, path, raw, content_type="application/json")
        assert response.status_code == 400, (method, path, response.content)
        detail = response.json()["detail"]
        assert detail["error"] == "invalid_request", (method, path, detail)
    flow = acme_user.get(f"/api/v1/flows/{flow_id}").json()
    assert flow["version"] == 1, "nothing may have changed the flow"


def test_compile_without_a_body_still_compiles_the_stored_version(acme_user, flow_id):
    response = acme_user.post(f"/api/v1/flows/{flow_id}/compile")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
