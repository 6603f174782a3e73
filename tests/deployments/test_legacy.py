"""The deprecated POST /api/v1/dev/deploy."""

import pytest

from deployments.models import Deployment
from tests.deployments.conftest import CORES, SIMPLE_FLOW, calls, grid_accepts

URL = "/api/v1/dev/deploy"


@pytest.fixture(autouse=True)
def _env_key(settings):
    settings.SCAIGRID_API_KEY = "sgk_env_key_5678"


def assert_deprecation_headers(response):
    assert response["Deprecation"].startswith("@")
    assert int(response["Deprecation"][1:]) > 0
    assert response["Sunset"].endswith("GMT")
    assert response["Link"] == '</api/v1/flows/{flow_id}/deploy>; rel="successor-version"'


def test_deploys_without_saving_a_flow(service_client, upstream):
    grid_accepts(upstream)
    response = service_client.post(URL, {"content": SIMPLE_FLOW}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["core_id"], body["published_slug"]) == ("core_1", None)
    assert_deprecation_headers(response)
    record = Deployment.objects.get(pk=body["deployment_id"])
    assert (record.flow, record.tenant.slug, record.status) == (None, "default", "succeeded")
    assert record.flow_name == "Echo bot"
    (create,) = calls(upstream, "POST", CORES)
    assert create.request.headers["Authorization"] == "Bearer sgk_env_key_5678"


def test_publish(service_client, upstream):
    grid_accepts(upstream)
    body = service_client.post(
        URL, {"content": SIMPLE_FLOW, "publish_as_model": True}, format="json"
    ).json()
    assert body["published_slug"] == "echo-bot"


def test_a_jwt_gets_401(acme_user, upstream):
    response = acme_user.post(URL, {"content": SIMPLE_FLOW}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "not_authenticated"
    assert_deprecation_headers(response)


def test_404_when_the_shared_token_is_off(service_client, settings):
    settings.SCAIFLOW_API_TOKEN = ""
    response = service_client.post(URL, {"content": SIMPLE_FLOW}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"]["error"] == "not_found"


def test_same_error_matrix(service_client, upstream):
    response = service_client.post(URL, {"content": {"nodes": "x"}}, format="json")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error"] == "compile_error"
    assert Deployment.objects.get(pk=detail["deployment_id"]).status == "failed"
    assert_deprecation_headers(response)


@pytest.mark.parametrize(
    "body", [{}, {"content": "x"}, {"content": {}, "publish_as_model": "maybe"}]
)
def test_bad_bodies_are_400(service_client, body):
    response = service_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "invalid_request"


def test_works_while_redis_is_down(service_client, upstream, redis_down):
    grid_accepts(upstream)
    response = service_client.post("/api/v1/dev/deploy", {"content": SIMPLE_FLOW}, format="json")
    assert response.status_code == 200, response.content
    assert Deployment.objects.get(pk=response.json()["deployment_id"]).status == "succeeded"
