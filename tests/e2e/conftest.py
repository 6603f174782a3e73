"""End-to-end fixtures: a live ScaiFlow server (a thread of this process) talking to devstack.

Requests go over real HTTP with `requests`; tokens are minted by devstack's ScaiKey and
ScaiFlow verifies them against devstack's JWKS (`devstack_settings`). Settings overrides made
here apply to the live server too, since it runs in this process.
"""

from __future__ import annotations

import copy

import pytest
import requests

from flows.services import flow_create
from tenants.models import Tenant


class Api:
    """`requests` against the live server's /api/v1 with one bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = f"{base_url}/api/v1"
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, json=None, **headers) -> requests.Response:
        return self.session.post(f"{self.base_url}{path}", json=json or {}, headers=headers)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}")

    def deploy(self, flow, json=None, **headers) -> requests.Response:
        return self.post(f"/flows/{flow.public_id}/deploy", json, **headers)


@pytest.fixture
def stack(devstack_settings, live_server, settings):
    settings.SCAIFLOW_DEPLOY_RATE = "1000/min"
    settings.SCAIFLOW_DEPLOY_TENANT_RATE = "1000/min"
    return devstack_settings


@pytest.fixture
def acme(transactional_db):
    return Tenant.objects.get_or_create(slug="acme")[0]


@pytest.fixture
def alice(stack, live_server) -> Api:
    return Api(live_server.url, stack.mint_token(tenant="acme", sub="alice"))


@pytest.fixture
def make_flow(acme):
    def make(content, name=None):
        content = copy.deepcopy(content)
        return flow_create(tenant=acme, name=name or content["name"], content=content, actor="e2e")

    return make


def error_of(response, status, code):
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["error"] == code, detail
    return detail
