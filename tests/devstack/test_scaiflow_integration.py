"""ScaiFlow's own ScaiKey verifier, pointed at devstack by `devstack_settings`."""

from __future__ import annotations

from rest_framework.test import APIClient


def _me(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/tenants/me")


def test_scaiflow_accepts_a_devstack_token(db, devstack_settings):
    response = _me(devstack_settings.mint_token("acme", "ada", ["tenant_admin"]))

    assert response.status_code == 200, response.content
    assert response.json()["slug"] == "acme"
    assert devstack_settings.count("GET /.well-known/jwks.json") == 1


def test_scaiflow_refetches_the_jwks_for_a_rotated_key(db, settings, devstack_settings):
    settings.SCAIKEY_JWKS_REFETCH_SECONDS = 0  # ScaiFlow's limit, not what this test is about
    assert _me(devstack_settings.mint_token()).status_code == 200

    devstack_settings.rotate_key()
    response = _me(devstack_settings.mint_token())

    assert response.status_code == 200, response.content
    assert devstack_settings.count("GET /.well-known/jwks.json") == 2


def test_scaiflow_refuses_a_token_for_another_audience(db, devstack_settings):
    token = devstack_settings.mint_token(claims={"aud": "someone-else"})

    assert _me(token).status_code == 401
