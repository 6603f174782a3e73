"""ScaiVault's secrets: put, get, delete; only its own token opens it."""

from __future__ import annotations

SECRET = "/v1/secrets/scaiflow/tenants/acme/scaigrid"
DATA = {"api_key": "sgk_live_abcd", "base_url": "https://scaigrid.example"}


def test_put_get_delete(devstack, client_for):
    vault = client_for(devstack.vault_token)

    assert vault.get(SECRET).status_code == 404
    stored = vault.put(SECRET, json={"data": DATA})
    read = vault.get(SECRET)
    deleted = vault.delete(SECRET)

    assert stored.status_code == 200, stored.text
    assert stored.json()["version"] == 1
    assert read.status_code == 200
    assert read.json()["data"] == DATA
    assert deleted.status_code == 204
    assert vault.get(SECRET).status_code == 404
    assert vault.delete(SECRET).status_code == 404


def test_put_replaces_and_counts_versions(devstack, client_for):
    vault = client_for(devstack.vault_token)
    vault.put(SECRET, json={"data": DATA})

    second = vault.put(SECRET, json={"data": {"api_key": "sgk_new"}})

    assert second.json()["version"] == 2
    assert vault.get(SECRET).json()["data"] == {"api_key": "sgk_new"}
    assert devstack.state()["secrets"]["scaiflow/tenants/acme/scaigrid"]["data"] == {
        "api_key": "sgk_new"
    }


def test_put_wants_data(devstack, client_for):
    vault = client_for(devstack.vault_token)

    assert vault.put(SECRET, json={"api_key": "x"}).status_code == 400
    assert vault.put(SECRET, json={"data": "x"}).status_code == 400


def test_scaigrid_keys_and_jwts_do_not_open_the_vault(devstack, client_for, anonymous):
    for credential in (devstack.api_key, devstack.mint_token(scopes=["scaivault:secrets"])):
        response = client_for(credential).get(SECRET)
        assert response.status_code == 403
        assert response.json() == {
            "error": "permission_denied",
            "message": "need scaivault:secrets",
        }
    assert anonymous.get(SECRET).status_code == 401


def test_the_vault_token_opens_nothing_else(devstack, client_for):
    vault = client_for(devstack.vault_token)

    assert vault.get("/v1/scopes").status_code == 403
    assert vault.post("/v1/modules/scaicore/cores").status_code == 403
