"""Credentials: 401 without a known one, 403 without the endpoint's permission (SPEC §5)."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.devstack.conftest import CORES, EVENTS

SCOPES = "/v1/scopes"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", CORES),
        ("PUT", f"{CORES}/core_x"),
        ("POST", f"{CORES}/core_x/publish"),
        ("DELETE", f"{CORES}/core_x/publish"),
        ("GET", f"{EVENTS}?core_id=core_x"),
        ("GET", SCOPES),
        ("POST", SCOPES),
        ("GET", f"{SCOPES}/s/queues"),
        ("POST", f"{SCOPES}/s/queues"),
        ("GET", "/v1/secrets/a/b"),
        ("PUT", "/v1/secrets/a/b"),
        ("DELETE", "/v1/secrets/a/b"),
    ],
)
def test_every_upstream_endpoint_wants_a_credential(devstack, anonymous, method, path):
    response = anonymous.request(method, path)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer sgk_unknown_key", "Basic c2drOng=", "Bearer ", "sgk_devstack_0000000000000000"],
)
def test_unknown_or_malformed_credentials_are_401(devstack, anonymous, authorization):
    response = anonymous.get(SCOPES, headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_a_key_without_scaiqueue_manage_is_403(devstack, client_for):
    key = devstack.register_key(["scaigrid:deploy"])

    response = client_for(key).post(SCOPES, json={"slug": "support"})

    assert response.status_code == 403
    assert response.json() == {"error": "permission_denied", "message": "need scaiqueue:manage"}
    assert devstack.state()["scopes"] == {}


def test_a_key_without_scaigrid_deploy_is_403(devstack, client_for):
    key = devstack.register_key(["scaiqueue:manage"])
    client = client_for(key)

    created = client.create_core()
    events = client.get(EVENTS, params={"core_id": "core_x"})

    assert created.status_code == 403
    assert created.json() == {"error": "permission_denied", "message": "need scaigrid:deploy"}
    assert events.json() == {"error": "permission_denied", "message": "need scaigrid:events"}
    assert client.get(SCOPES).status_code == 200


def test_a_removed_key_is_401(devstack, client_for):
    key = devstack.register_key(["scaiqueue:manage"])
    client = client_for(key)
    assert client.get(SCOPES).status_code == 200

    devstack.reset()

    assert client.get(SCOPES).status_code == 401


def test_a_scaikey_jwt_may_deploy_and_manage_queues(devstack, client_for):
    client = client_for(devstack.mint_token("acme", "alice"))

    assert client.create_core().status_code == 201
    assert client.post(SCOPES, json={"slug": "support"}).status_code == 201


def test_a_jwt_with_scopes_gets_exactly_those(devstack, client_for):
    for scopes in (["scaigrid:deploy"], "scaigrid:deploy"):
        client = client_for(devstack.mint_token(claims={"scopes": scopes}))

        assert client.create_core().status_code == 201
        denied = client.get(SCOPES)
        assert denied.status_code == 403
        assert denied.json()["message"] == "need scaiqueue:manage"


def test_the_call_log_names_the_caller_not_the_credential(devstack, client_for):
    client_for(devstack.mint_token("acme", "alice")).get(SCOPES)
    client_for(devstack.api_key).get(SCOPES)

    calls = devstack.calls(f"GET {SCOPES}")

    assert calls[0]["auth"] == {"kind": "jwt", "subject": "alice", "tenant": "acme"}
    assert calls[1]["auth"]["kind"] == "api_key"
    assert devstack.api_key not in str(devstack.state()["calls"])


def _token(devstack, **changes):
    claims = {"iss": devstack.issuer, "aud": devstack.audience, "sub": "alice", "tenant": "acme"}
    return {**claims, **changes}


def test_expired_jwt_is_401(devstack, client_for):
    response = client_for(devstack.mint_token(ttl=-60)).get(SCOPES)

    assert response.status_code == 401
    assert "expired" in response.json()["message"]


@pytest.mark.parametrize(
    "claims",
    [{"iss": "https://elsewhere.example"}, {"aud": "someone-else"}],
)
def test_jwt_for_another_issuer_or_audience_is_401(devstack, client_for, claims):
    response = client_for(devstack.mint_token(claims=claims)).get(SCOPES)

    assert response.status_code == 401


def test_jwt_signed_by_another_key_is_401(devstack, client_for):
    kid = devstack.state()["scaikey"]["kid"]
    forged = jwt.encode(
        {**_token(devstack), "exp": 4_000_000_000},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": kid},
    )

    assert client_for(forged).get(SCOPES).status_code == 401


def test_jwt_with_an_unknown_kid_is_401(devstack, client_for):
    token = devstack.mint_token()
    devstack.rotate_key(retire_old=True)

    response = client_for(token).get(SCOPES)

    assert response.status_code == 401
    assert "kid" in response.json()["message"]
