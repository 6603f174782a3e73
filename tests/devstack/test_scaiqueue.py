"""ScaiQueue's scopes and queues: find by slug, create, 409 on conflict."""

from __future__ import annotations

import pytest

SCOPE = {"slug": "support", "name": "Support", "config": {}}
QUEUE = {"slug": "review", "name": "Human review", "config": {"sla_minutes": 60}}


def test_scope_find_create_conflict(devstack, grid):
    assert grid.get("/v1/scopes", params={"slug": "support"}).json() == {"items": []}

    created = grid.post("/v1/scopes", json=SCOPE)
    conflict = grid.post("/v1/scopes", json={**SCOPE, "name": "Another"})
    found = grid.get("/v1/scopes", params={"slug": "support"})

    assert created.status_code == 201, created.text
    assert created.json() == SCOPE
    assert conflict.status_code == 409
    assert found.json() == {"items": [SCOPE]}
    assert devstack.state()["scopes"] == {"support": SCOPE}


def test_list_scopes_filters_by_slug(grid):
    grid.post("/v1/scopes", json=SCOPE)
    grid.post("/v1/scopes", json={"slug": "sales"})

    assert [item["slug"] for item in grid.get("/v1/scopes").json()["items"]] == ["support", "sales"]
    assert grid.get("/v1/scopes", params={"slug": "sales"}).json()["items"] == [
        {"slug": "sales", "name": "sales", "config": {}}
    ]
    assert grid.get("/v1/scopes", params={"slug": "nope"}).json()["items"] == []


def test_queue_find_create_conflict(devstack, grid):
    grid.post("/v1/scopes", json=SCOPE)
    queues = "/v1/scopes/support/queues"

    assert grid.get(queues, params={"slug": "review"}).json() == {"items": []}
    created = grid.post(queues, json=QUEUE)
    conflict = grid.post(queues, json=QUEUE)
    found = grid.get(queues, params={"slug": "review"})

    assert created.status_code == 201, created.text
    assert conflict.status_code == 409
    assert found.json() == {"items": [QUEUE]}
    assert devstack.state()["queues"] == {"support/review": QUEUE}


def test_queues_belong_to_their_scope(grid):
    grid.post("/v1/scopes", json=SCOPE)
    grid.post("/v1/scopes", json={"slug": "sales"})
    grid.post("/v1/scopes/support/queues", json=QUEUE)

    assert grid.get("/v1/scopes/sales/queues").json() == {"items": []}
    assert grid.post("/v1/scopes/sales/queues", json=QUEUE).status_code == 201


def test_queues_of_an_unknown_scope_are_404(grid):
    assert grid.get("/v1/scopes/nope/queues").status_code == 404
    assert grid.post("/v1/scopes/nope/queues", json=QUEUE).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "no slug"},
        {"slug": "has space"},
        {"slug": "ok", "config": []},
        ["not", "an object"],
    ],
)
def test_invalid_scope_is_400(grid, body):
    response = grid.post("/v1/scopes", json=body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_body_that_is_not_json_is_400(grid):
    response = grid.post(
        "/v1/scopes", data="{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
