"""Fixtures for tenants' ScaiGrid credentials: tenants, a recognisable key, a fake ScaiVault."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import responses
from cryptography.fernet import Fernet

from tenants.services import tenant_get_or_create

VAULT_URL = "https://scaivault.test"
VAULT_TOKEN = "vault-token-for-tests"
# A key no test could produce by accident; its middle part must never show up anywhere.
CANARY = "sgk_CANARY0c6b1e9a5d3f7h2j4k8m"
CANARY_CORE = "CANARY0c6b1e9a5d3f"
OTHER_KEY = "sgk_other0123456789abcdefwxyz"
KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


@pytest.fixture
def acme(db):
    return tenant_get_or_create(slug="acme")


@pytest.fixture
def globex(db):
    return tenant_get_or_create(slug="globex")


@dataclass
class FakeVault:
    """ScaiVault's secrets API in memory (`GET|PUT|DELETE /v1/secrets/{path}`)."""

    secrets: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    down_status: int | None = None

    def handle(self, request):
        path = urlsplit(request.url).path.removeprefix("/v1/secrets/")
        self.requests.append((request.method, path, request.headers.get("Authorization", "")))
        if self.down_status is not None:
            return self.down_status, {}, json.dumps({"error": "unavailable"})
        if request.method == "PUT":
            self.secrets[path] = json.loads(request.body)["data"]
            return 200, {}, json.dumps({"ok": True})
        if request.method == "DELETE":
            return (204, {}, "") if self.secrets.pop(path, None) else (404, {}, "")
        if path in self.secrets:
            return 200, {}, json.dumps({"data": self.secrets[path]})
        return 404, {}, json.dumps({"error": "not_found"})


@pytest.fixture
def vault(settings):
    """ScaiVault configured, answered by a FakeVault through `responses`."""
    settings.SCAIVAULT_URL = VAULT_URL
    settings.SCAIVAULT_TOKEN = VAULT_TOKEN
    fake = FakeVault()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        pattern = re.compile(re.escape(VAULT_URL) + r"/v1/secrets/.*")
        for method in (responses.GET, responses.PUT, responses.DELETE):
            mock.add_callback(method, pattern, callback=fake.handle)
        yield fake


@pytest.fixture
def responses_mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
