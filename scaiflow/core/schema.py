"""The OpenAPI schema's house rules (loaded by ScaiflowConfig.ready): the authentication
schemes, SPEC §2's error body, and the errors every operation can answer by construction.

Views declare what is particular to them (their 2xx body, 409/412/422/502/503...). What follows
from how the API is built is added here, once, so no operation forgets it:

- every operation can answer 406 (JSON is the only media type it answers);
- every authenticated operation can answer 401 (with `WWW-Authenticate`);
- an operation with a request body can answer 400, 413 and 415 (the JSON parser);
- an operation with a path parameter can answer 404;
- a paginated list can answer 400 (a bad `page_size`) and 404 (no such page);
- a throttled operation can answer 429 (with `Retry-After`);
- every operation can answer 503 `database_unavailable` (with `Retry-After`), besides the 503s
  an operation declares itself (`flow_storage_unavailable`);
- every response carries `X-Request-ID`;
- every 4xx/5xx response has SPEC §2's body (the `Error` component);
- request strings say they cannot hold NUL characters, nor be blank once trimmed, when
  DRF refuses that.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ScaiKeyJWTScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ScaiKeyJWTAuthentication"
    name = "ScaiKeyJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A ScaiKey access token.",
        }


class SharedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.SharedTokenAuthentication"
    name = "SharedToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The legacy shared token (SCAIFLOW_API_TOKEN), deprecated.",
        }


# --- SPEC §2's error body --------------------------------------------------------------------


class ErrorDetail(serializers.Serializer):
    """Codes add their own fields (`fields`, `request_id`, `deployment_id`, `status`...)."""

    error = serializers.RegexField(r"^[a-z][a-z0-9_]*$", help_text="A stable snake_case code.")
    message = serializers.CharField(allow_blank=True)
    fix = serializers.CharField(required=False, help_text="What to do about it.")


class Error(serializers.Serializer):
    detail = ErrorDetail()


def error(description: str) -> OpenApiResponse:
    """An error response of an operation, with SPEC §2's body."""
    return OpenApiResponse(Error, description=description)


def _header(description: str, *, schema: dict | None = None) -> dict:
    return {"schema": schema or {"type": "string"}, "description": description, "required": True}


REQUEST_ID_HEADER = _header("The request's id: the `X-Request-ID` sent, or a generated one.")
BODY_METHODS = ("POST", "PUT", "PATCH")

DATABASE_UNAVAILABLE = (
    "`database_unavailable`: the database is unreachable; retry after `Retry-After` seconds."
)
GENERIC_ERRORS = {
    "400": "`invalid_request`: the request is malformed (`fields` names the bad fields).",
    "401": "`not_authenticated`: no valid credentials.",
    "404": "`not_found`: no such object in your tenant.",
    "406": "`not_acceptable`: the `Accept` header names no JSON type.",
    "413": "`flow_too_large`: the body is larger than SCAIFLOW_MAX_FLOW_BYTES.",
    "415": "`unsupported_media_type`: the body is not `application/json`.",
    "429": "`throttled`: too many deploys; retry after `Retry-After` seconds.",
    "503": DATABASE_UNAVAILABLE,
}


# DRF's CharField refuses NUL characters in input, and trims whitespace before refusing a
# blank string; the schema says so.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"


class ScaiflowAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the house rules of the module docstring."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
        ):
            blank_allowed = field.allow_blank or not field.trim_whitespace
            schema.setdefault("pattern", NO_NUL if blank_allowed else NOT_BLANK)
        return schema

    def _generic_error_codes(self) -> list[str]:
        codes = ["406", "503"]  # content negotiation: JSON only; every operation reads the database
        if self.get_auth():
            codes.append("401")
        if self.method in BODY_METHODS:
            codes += ["400", "413", "415"]
        if "{" in self.path:
            codes.append("404")
        if self.method == "GET" and self._get_paginator() and self._is_list_view():
            codes += ["400", "404"]  # a bad page_size; no such page
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        declared_503 = responses.get("503")
        if declared_503 is not None and DATABASE_UNAVAILABLE not in declared_503["description"]:
            declared_503["description"] += " Or " + DATABASE_UNAVAILABLE
            declared_503.pop("content", None)  # rebuilt below, with the longer description
        for code in self._generic_error_codes():
            responses.setdefault(code, {"description": GENERIC_ERRORS[code]})
        for code, response in list(responses.items()):
            if code >= "400" and "content" not in response:
                described = error(response.get("description", ""))
                responses[code] = self._get_response_for_code(described, code, direction=direction)
            headers = responses[code].setdefault("headers", {})
            headers["X-Request-ID"] = REQUEST_ID_HEADER
            if code == "401":
                headers["WWW-Authenticate"] = _header("`Bearer` with the realm.")
            if code in ("429", "503"):
                headers["Retry-After"] = _header("Seconds to wait.", schema={"type": "integer"})
        return dict(sorted(responses.items()))
