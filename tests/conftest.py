"""Shared fixtures: a ScaiKey signing key, token minting, and the personas.

Personas: `acme_admin` (tenant admin of acme), `acme_user` (member of acme), `globex_user`
(member of another tenant), `service_client` (the legacy shared token). Each is a DRF
APIClient that sends its bearer token.
"""

from __future__ import annotations

import socket
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

pytest_plugins = ["devstack.pytest_plugin"]

ISSUER = "https://scaikey.test"
AUDIENCE = "scaiflow-test"
API_TOKEN = "shared-token-for-tests-0123456789"


@pytest.fixture(scope="session")
def scaikey_private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def scaikey_public_pem(scaikey_private_key) -> str:
    return (
        scaikey_private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttles and caches start empty in every test (the cache may be a shared Redis).

    The per-process caches too: a test's rolled-back rows must not outlive it.
    """
    from django.core.cache import cache

    from deployments.events import forget_recent_polls
    from tenants.authentication import forget_cached_tenants

    cache.clear()
    forget_cached_tenants()
    forget_recent_polls()


@pytest.fixture(autouse=True)
def _scaiflow_settings(settings, scaikey_public_pem, tmp_path):
    """Every test: ScaiKey verified by the test key, the shared token on, flows in tmp_path."""
    settings.SCAIKEY_ISSUER = ISSUER
    settings.SCAIKEY_AUDIENCE = AUDIENCE
    settings.SCAIKEY_JWKS_URL = ""
    settings.SCAIKEY_PUBLIC_KEY = scaikey_public_pem
    settings.SCAIFLOW_API_TOKEN = API_TOKEN
    settings.STORAGES = {
        **settings.STORAGES,
        "flows": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "flows"},
        },
    }
    return settings


@pytest.fixture
def make_token(scaikey_private_key):
    """Mint a ScaiKey-style JWT; keyword arguments override or (with None) drop claims."""

    def make(
        *,
        tenant: str = "acme",
        sub: str = "alice",
        roles: tuple[str, ...] | object = (),
        key=None,
        algorithm: str = "RS256",
        headers: dict | None = None,
        **claims,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "tenant": tenant,
            "roles": list(roles) if isinstance(roles, tuple | list) else roles,
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key or scaikey_private_key, algorithm=algorithm, headers=headers)

    return make


@pytest.fixture
def redis_down(settings):
    """The cache is ScaiFlow's Redis backend, pointed at a Redis that is down: a port bound but
    never listening, so every connection is refused by the operating system."""
    from scaiflow.core import cache as cache_module

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        location = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        settings.CACHES = {
            "default": {"BACKEND": "scaiflow.core.cache.RedisCache", "LOCATION": location}
        }
        yield location
        cache_module._outages.pop(location, None)


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.token = token
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def acme_admin(db, make_token) -> APIClient:
    return _client(make_token(tenant="acme", sub="ada", roles=("tenant_admin",)))


@pytest.fixture
def acme_user(db, make_token) -> APIClient:
    return _client(make_token(tenant="acme", sub="alice"))


@pytest.fixture
def globex_user(db, make_token) -> APIClient:
    return _client(make_token(tenant="globex", sub="gus"))


@pytest.fixture
def service_client(db) -> APIClient:
    return _client(API_TOKEN)


def pytest_collection_modifyitems(config, items):
    """Deselect `postgres` tests on SQLite, visibly (pytest reports them as deselected).

    They test behaviour under concurrent transactions (the partial unique constraint on a
    flow's pending deployment), which SQLite's single writer lock cannot exercise: a run
    there would only time out on locks, not test anything. CI also runs the suite with
    DATABASE_URL on PostgreSQL, where they run.
    """
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]
