def test_tenant_me(acme_admin):
    response = acme_admin.get("/api/v1/tenants/me")
    assert response.status_code == 200, response.content
    assert response.json()["slug"] == "acme"
    assert response.json()["roles"] == ["tenant_admin"]
