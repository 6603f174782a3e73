"""SPEC §2: one error body for everything the API answers, and request ids."""

import json
import logging

import pytest

pytestmark = pytest.mark.urls("tests.scaiflow.urls")

ECHO = "/api/v1/_test/echo"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail["error"] == code
    assert isinstance(detail["message"], str) and detail["message"]
    return detail


def post_raw(client, body: bytes, content_type="application/json", **extra):
    return client.generic("POST", ECHO, body, content_type=content_type, **extra)


class TestBodies:
    def test_json_round_trip(self, acme_user):
        assert acme_user.post(ECHO, {"a": [1, 2]}, format="json").json() == {
            "received": {"a": [1, 2]}
        }

    def test_declared_length_over_the_limit_is_413_before_reading(self, acme_user, settings):
        settings.SCAIFLOW_MAX_FLOW_BYTES = 100
        detail = assert_error(
            post_raw(acme_user, b"{}", CONTENT_LENGTH="1000000"), 413, "flow_too_large"
        )
        assert detail["limit"] == 100

    def test_actual_body_over_the_limit_is_413(self, acme_user, settings):
        settings.SCAIFLOW_MAX_FLOW_BYTES = 100
        body = json.dumps({"x": "y" * 200}).encode()
        assert_error(post_raw(acme_user, body), 413, "flow_too_large")

    def test_deep_nesting_is_400_not_500(self, acme_user):
        body = b"[" * 100_000 + b"]" * 100_000
        assert_error(post_raw(acme_user, body), 400, "invalid_request")

    def test_moderate_nesting_over_the_depth_limit_is_400(self, acme_user):
        body = b"[" * 500 + b"]" * 500
        assert_error(post_raw(acme_user, body), 400, "invalid_request")

    def test_invalid_utf8_is_400(self, acme_user):
        assert_error(post_raw(acme_user, b'{"name": "\xff\xfe"}'), 400, "invalid_request")

    @pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
    def test_nan_and_infinity_are_400(self, acme_user, literal):
        assert_error(post_raw(acme_user, b'{"x": ' + literal + b"}"), 400, "invalid_request")

    def test_malformed_json_is_400(self, acme_user):
        assert_error(post_raw(acme_user, b'{"x": '), 400, "invalid_request")

    def test_wrong_content_type_is_415(self, acme_user):
        detail = assert_error(
            post_raw(acme_user, b"x=1", "text/plain"), 415, "unsupported_media_type"
        )
        assert "fix" in detail


class TestGenericCodes:
    def test_401_has_www_authenticate(self, anonymous_client, db):
        response = anonymous_client.get("/api/v1/tenants/me")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == 'Bearer realm="scaiflow"'

    def test_403(self, acme_user):
        from rest_framework.exceptions import PermissionDenied

        from scaiflow.core.errors import translate

        assert translate(PermissionDenied()).as_detail()["error"] == "permission_denied"

    def test_404_for_unknown_api_path(self, acme_user):
        assert_error(acme_user.get("/api/v1/no-such-thing"), 404, "not_found")

    def test_404_anonymous_unknown_path_is_json_too(self, anonymous_client, db):
        assert_error(anonymous_client.get("/api/nothing/here"), 404, "not_found")

    def test_unknown_api_path_is_json_with_debug_on_and_any_method(self, db, settings):
        from django.test import Client

        settings.DEBUG = True
        client = Client(enforce_csrf_checks=True)
        for method in ("get", "post", "delete"):
            assert_error(getattr(client, method)("/api/v1/flows//deploy"), 404, "not_found")

    def test_405(self, acme_user):
        assert_error(acme_user.delete("/api/v1/tenants/me"), 405, "method_not_allowed")

    def test_429_has_retry_after(self, acme_user):
        response = acme_user.get("/api/v1/_test/throttled")
        detail = assert_error(response, 429, "throttled")
        assert response["Retry-After"] == "18"  # rounded up
        assert detail["retry_after"] == 18

    def test_unexpected_exception_is_500_with_request_id_and_logged(self, acme_user, caplog):
        with caplog.at_level(logging.ERROR):
            response = acme_user.get("/api/v1/_test/broken", HTTP_X_REQUEST_ID="req-500-test")
        detail = assert_error(response, 500, "internal_error")
        assert detail["request_id"] == "req-500-test"
        assert "sk_canary_123" not in response.content.decode()
        assert "Traceback" not in response.content.decode()
        logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert logged and all(r.request_id == "req-500-test" for r in logged)

    def test_admin_keeps_html(self, client, db):
        response = client.get("/admin/")
        assert response.status_code == 302  # to the login page, not a JSON body


class TestRequestId:
    def test_taken_from_the_request(self, acme_user):
        response = acme_user.get("/api/v1/tenants/me", HTTP_X_REQUEST_ID="abc-123")
        assert response["X-Request-ID"] == "abc-123"

    @pytest.mark.parametrize(
        "sent", [None, "", "x" * 200, "has spaces", "new\nline", "trailing-newline\n"]
    )
    def test_generated_when_absent_or_unacceptable(self, acme_user, sent):
        extra = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
        response = acme_user.get("/api/v1/tenants/me", **extra)
        assert len(response["X-Request-ID"]) == 32
        assert response["X-Request-ID"] != sent

    def test_on_errors_and_health_too(self, anonymous_client, db):
        assert anonymous_client.get("/api/v1/tenants/me")["X-Request-ID"]
        assert anonymous_client.get("/healthz")["X-Request-ID"]
        assert anonymous_client.get("/nope")["X-Request-ID"]
