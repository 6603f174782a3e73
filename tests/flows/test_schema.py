"""The OpenAPI schema describes the flows endpoints with their real bodies."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def body_schema(schema: dict, operation: dict, *, status: str | None = None) -> dict:
    content = operation["responses"][status] if status else operation["requestBody"]
    ref = content["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_flow_paths_are_described(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/flows"]) == {"get", "post"}
    assert set(paths["/api/v1/flows/{flow_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/flows/{flow_id}/versions"]) == {"get"}
    assert set(paths["/api/v1/flows/{flow_id}/versions/{number}"]) == {"get"}


def test_create_shows_its_request_and_response_bodies(schema):
    create = schema["paths"]["/api/v1/flows"]["post"]
    request = body_schema(schema, create)
    assert set(request["properties"]) == {"name", "description", "content"}
    assert set(request["required"]) == {"name", "content"}
    assert request["properties"]["content"]["type"] == "object"
    response = body_schema(schema, create, status="201")
    assert "latest_deployment" in response["properties"]
    assert "ETag" in create["responses"]["201"]["headers"]
    assert {"400", "413", "503"} <= set(create["responses"])


def test_detail_shows_content_and_if_match(schema):
    detail = schema["paths"]["/api/v1/flows/{flow_id}"]
    assert "content" in body_schema(schema, detail["get"], status="200")["properties"]
    assert any(p["name"] == "If-Match" for p in detail["put"]["parameters"])
    assert "412" in detail["patch"]["responses"]


def test_version_detail_shows_content(schema):
    version = schema["paths"]["/api/v1/flows/{flow_id}/versions/{number}"]["get"]
    properties = body_schema(schema, version, status="200")["properties"]
    assert {"version", "content_sha256", "size", "created_by", "content"} <= set(properties)
