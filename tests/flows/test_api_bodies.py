"""Malformed and oversized bodies: 400 and 413, in the error body, with nothing saved."""

from __future__ import annotations

import json

import pytest

from flows.models import Flow, FlowVersion
from flows.services import flow_create, flow_update
from scaiflow.core.errors import FlowTooLarge
from tests.flows.conftest import stored_files

FLOWS = "/api/v1/flows"


def post_raw(client, body: bytes, *, content_type: str = "application/json", **extra):
    return client.generic("POST", FLOWS, body, content_type=content_type, **extra)


def assert_invalid(response, *fields: str) -> dict:
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert detail["error"] == "invalid_request"
    for field in fields:
        assert field in detail["fields"], detail
    return detail


def assert_nothing_saved(local_flow_files) -> None:
    assert not Flow.objects.exists()
    assert not FlowVersion.objects.exists()
    assert stored_files(local_flow_files) == []


# --- Malformed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"name": "x", "content": {}',
        b"",
        b'{"name": NaN, "content": {}}',
        b"\xff\xfe",
    ],
)
def test_a_body_that_is_not_json_is_refused(acme_user, raw, local_flow_files):
    response = post_raw(acme_user, raw)
    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error"] == "invalid_request"
    assert_nothing_saved(local_flow_files)


@pytest.mark.parametrize("body", [[], ["name"], "flow", 42, None])
def test_a_body_that_is_not_an_object_is_refused(acme_user, body, local_flow_files):
    response = post_raw(acme_user, json.dumps(body).encode())
    assert response.status_code == 400, response.content
    assert response.json()["detail"]["error"] == "invalid_request"
    assert_nothing_saved(local_flow_files)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": {}}, "name"),
        ({"name": "", "content": {}}, "name"),
        ({"name": "   ", "content": {}}, "name"),
        ({"name": None, "content": {}}, "name"),
        ({"name": 42, "content": {}}, "name"),
        ({"name": True, "content": {}}, "name"),
        ({"name": ["x"], "content": {}}, "name"),
        ({"name": "x" * 201, "content": {}}, "name"),
        ({"name": "x", "description": 7, "content": {}}, "description"),
        ({"name": "x", "description": None, "content": {}}, "description"),
        ({"name": "x"}, "content"),
        ({"name": "x", "content": None}, "content"),
        ({"name": "x", "content": []}, "content"),
        ({"name": "x", "content": "{}"}, "content"),
        ({"name": "x", "content": 1}, "content"),
    ],
)
def test_invalid_fields_are_named(acme_user, body, field, local_flow_files):
    assert_invalid(acme_user.post(FLOWS, body, format="json"), field)
    assert_nothing_saved(local_flow_files)


def test_content_with_a_lone_surrogate_is_refused(acme_user, local_flow_files):
    # Valid JSON (an escape), but no UTF-8 document can carry it.
    response = post_raw(acme_user, b'{"name": "x", "content": {"text": "\\ud800"}}')
    assert_invalid(response, "content")
    assert_nothing_saved(local_flow_files)


def test_a_name_of_200_characters_is_fine(acme_user):
    response = acme_user.post(FLOWS, {"name": "x" * 200, "content": {}}, format="json")
    assert response.status_code == 201


def test_a_body_in_another_media_type_is_refused(acme_user, local_flow_files):
    response = post_raw(acme_user, b"name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["detail"]["error"] == "unsupported_media_type"
    assert_nothing_saved(local_flow_files)


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("put", {"name": "x"}, "content"),
        ("put", {"content": {}}, "name"),
        ("put", {"name": "x", "content": [1]}, "content"),
        ("patch", {"content": "nope"}, "content"),
        ("patch", {"name": ""}, "name"),
        ("patch", {"name": 3}, "name"),
    ],
)
def test_invalid_updates_are_refused_and_change_nothing(acme_user, make_flow, method, body, field):
    flow = make_flow()
    response = getattr(acme_user, method)(f"{FLOWS}/{flow.public_id}", body, format="json")
    assert_invalid(response, field)
    after = Flow.objects.get(pk=flow.pk)
    assert (after.name, after.version) == (flow.name, 1)


def test_an_update_body_that_is_not_an_object_is_refused(acme_user, make_flow):
    flow = make_flow()
    response = acme_user.generic(
        "PATCH", f"{FLOWS}/{flow.public_id}", b"[1, 2]", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_request"


# --- Size ------------------------------------------------------------------------------------


@pytest.fixture
def small_limit(settings) -> int:
    settings.SCAIFLOW_MAX_FLOW_BYTES = 2048
    return 2048


def body_of_size(size: int) -> bytes:
    """A valid create body of exactly `size` bytes."""
    skeleton = json.dumps({"name": "Big", "content": {"padding": ""}}).encode()
    padding = "p" * (size - len(skeleton))
    body = json.dumps({"name": "Big", "content": {"padding": padding}}).encode()
    assert len(body) == size
    return body


def assert_too_large(response, limit: int) -> None:
    assert response.status_code == 413, response.content
    detail = response.json()["detail"]
    assert detail["error"] == "flow_too_large"
    assert detail["limit"] == limit


def test_a_body_over_the_limit_is_refused(acme_user, small_limit, local_flow_files):
    assert_too_large(post_raw(acme_user, body_of_size(small_limit + 1)), small_limit)
    assert_nothing_saved(local_flow_files)


def test_a_body_at_the_limit_is_accepted(acme_user, small_limit):
    assert post_raw(acme_user, body_of_size(small_limit)).status_code == 201


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    acme_user, small_limit, local_flow_files
):
    # The body itself is small: only the Content-Length says it is too large.
    response = post_raw(acme_user, body_of_size(100), CONTENT_LENGTH=str(small_limit * 1000))
    assert_too_large(response, small_limit)
    assert_nothing_saved(local_flow_files)


def test_an_oversized_update_is_refused_and_changes_nothing(acme_user, make_flow, small_limit):
    flow = make_flow()
    url = f"{FLOWS}/{flow.public_id}"
    body = body_of_size(small_limit + 10)
    response = acme_user.generic("PUT", url, body, content_type="application/json")
    assert_too_large(response, small_limit)
    assert Flow.objects.get(pk=flow.pk).version == 1


def test_the_services_refuse_oversized_content_from_any_caller(acme, make_flow, small_limit):
    big = {"padding": "p" * small_limit}
    with pytest.raises(FlowTooLarge):
        flow_create(tenant=acme, name="Big", content=big, actor="operator")
    flow = make_flow()
    with pytest.raises(FlowTooLarge):
        flow_update(flow=flow, actor="operator", content=big)
    assert Flow.objects.get(pk=flow.pk).version == 1
