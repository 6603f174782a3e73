"""The API's one error family and the handler that renders SPEC §2's error body for everything.

Every error the API answers has the shape
`{"detail": {"error": <code>, "message": <text>, "fix"?: <text>, ...extra}}`.
Business code raises an `ApiError` subclass; DRF's own exceptions and Django's 404 are
translated here; anything unexpected becomes `500 internal_error` with the request id.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults as django_defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response

from scaiflow.core import database
from scaiflow.observability.context import current_request_id

logger = logging.getLogger("scaiflow.errors")


class ApiError(Exception):
    """An error the API answers on purpose: an HTTP status, a stable code, a message, a fix."""

    status_code = 400
    code = "invalid_request"
    message = "The request is invalid."
    fix: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        fix: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or self.message
        self.fix = fix or self.fix
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.message)

    def as_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fix:
            detail["fix"] = self.fix
        detail.update(self.extra)
        return without_nul(detail)


def without_nul(value: Any) -> Any:
    """`value` with every NUL in its strings replaced by U+FFFD.

    Error details quote what callers sent (a node id, a name) and are stored as well as
    answered (deployment records, idempotency replays); PostgreSQL's text and jsonb cannot
    hold NUL, so a detail holding one would fail to save.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


class InvalidRequest(ApiError):
    status_code = 400
    code = "invalid_request"


class NotAuthenticated(ApiError):
    status_code = 401
    code = "not_authenticated"
    message = "Authentication credentials were not provided or are not valid."
    fix = "Send `Authorization: Bearer <ScaiKey JWT>`."


class PermissionDenied(ApiError):
    status_code = 403
    code = "permission_denied"
    message = "You do not have permission to do this."


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(ApiError):
    status_code = 405
    code = "method_not_allowed"


class NotAcceptable(ApiError):
    status_code = 406
    code = "not_acceptable"


class VersionConflict(ApiError):
    status_code = 412
    code = "version_conflict"
    message = "The flow has changed since you read it."
    fix = "Read the flow again and retry with its current version in If-Match."


class MissingScaigridCredentials(ApiError):
    """No credential to call ScaiGrid with for this tenant (SPEC §4 step 3)."""

    status_code = 412
    code = "missing_scaigrid_credentials"
    fix = "Sign in with ScaiKey or set the key via `POST /v1/tenants/me/scaigrid_credentials`."

    def __init__(self, *, tenant: str, **extra: Any) -> None:
        super().__init__(f"no ScaiGrid credentials for tenant '{tenant}'", **extra)


class FlowTooLarge(ApiError):
    status_code = 413
    code = "flow_too_large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"
    fix = "Send the body as JSON with `Content-Type: application/json`."


class Throttled(ApiError):
    status_code = 429
    code = "throttled"
    message = "Too many requests."


class ScaivaultUnavailable(ApiError):
    """ScaiVault is configured but did not answer usably; nothing falls back to another key."""

    status_code = 502
    code = "scaivault_unavailable"
    message = "ScaiVault, where the tenant's ScaiGrid key is kept, is unavailable."
    fix = "Retry later; if it persists, an operator should check SCAIVAULT_URL and SCAIVAULT_TOKEN."


class FlowStorageUnavailable(ApiError):
    status_code = 503
    code = "flow_storage_unavailable"
    message = "Flow storage is not reachable right now."
    fix = "Try again in a moment."


class DependencyUnavailable(Exception):
    """A store below the API is out of reach (flow storage, say): answered as `answer`.

    The layer that meets the outage raises its own subclass and logs it there, with the
    backend's own error; the API answers with `answer`, whose message says nothing of it.
    """

    answer: type[ApiError] = ApiError


class DatabaseUnavailable(ApiError):
    """PostgreSQL cannot be reached (down, restarting, failing over): worth a retry shortly."""

    status_code = 503
    code = "database_unavailable"
    message = "The database is not reachable right now."
    fix = "Retry after the number of seconds in Retry-After."

    def __init__(self, **extra: Any) -> None:
        seconds = database.RETRY_AFTER_SECONDS
        super().__init__(headers={"Retry-After": str(seconds)}, retry_after=seconds, **extra)


def database_unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The answer to a database error: logged once, as one WARNING line (an outage makes one
    per request; a traceback each would bury everything else)."""
    logger.warning("database unavailable: %s", database.describe(exc))
    return DatabaseUnavailable()


class InternalError(ApiError):
    status_code = 500
    code = "internal_error"
    message = "Something went wrong on our side. Quote the request id when you report it."


def error_response(error: ApiError) -> Response:
    response = Response({"detail": error.as_detail()}, status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    return response


def _field_messages(detail: Any) -> Any:
    """DRF's nested ValidationError detail as plain strings, keeping its structure."""
    if isinstance(detail, dict):
        return {str(key): _field_messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_messages(item) for item in detail]
    return str(detail)


def translate(exc: Exception, *, auth_header: str | None = None) -> ApiError | None:
    """The ApiError for a known exception, or None for an unexpected one."""
    if isinstance(exc, ApiError):
        return exc
    if database.is_unavailable(exc):
        return database_unavailable(exc)
    if isinstance(exc, DependencyUnavailable):
        # Logged where it happened, with the backend's own error.
        return exc.answer()
    if isinstance(exc, drf.ValidationError):
        fields = _field_messages(exc.detail)
        if isinstance(fields, dict):
            return InvalidRequest("The request has invalid fields.", fields=fields)
        messages = fields if isinstance(fields, list) else [fields]
        return InvalidRequest("; ".join(map(str, messages)) or InvalidRequest.message)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        headers = {"WWW-Authenticate": auth_header or 'Bearer realm="api"'}
        return NotAuthenticated(str(exc.detail), headers=headers)
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return NotAcceptable(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        wait = max(1, int(exc.wait or 1))
        return Throttled(
            f"Too many requests; retry in {wait} seconds.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    if isinstance(exc, drf.ParseError):
        return InvalidRequest(str(exc.detail))
    if isinstance(exc, drf.APIException):
        error = ApiError(str(exc.detail), status_code=exc.status_code)
        error.code = exc.default_code
        return error
    return None


def internal_error() -> InternalError:
    return InternalError(request_id=current_request_id())


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception a view raises becomes SPEC §2's body."""
    view = context.get("view")
    request = context.get("request")
    auth_header = None
    if view is not None and request is not None and hasattr(view, "get_authenticate_header"):
        auth_header = view.get_authenticate_header(request)
    error = translate(exc, auth_header=auth_header)
    if error is None:
        logger.error("unhandled error in %s", type(view).__name__, exc_info=exc)
        response = error_response(internal_error())
        # Logged above with its traceback; Django need not log it again.
        response._has_been_logged = True
        return response
    response = error_response(error)
    if error.status_code == 503:
        # An outage (database, flow storage) is logged where it was met, one line per request;
        # Django's own ERROR line for a 5xx would double it.
        response._has_been_logged = True
    return response


def json_error(error: ApiError) -> JsonResponse:
    """The same body outside DRF (Django's 400/404/500 handlers, middleware)."""
    response = JsonResponse({"detail": error.as_detail()}, status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    return response


# Django's own error views (URLconf handler400/403/404/500): the API's body everywhere but
# the admin, which keeps its HTML pages.


def _is_admin(request) -> bool:
    return request.path.startswith("/admin/")


def handler400(request, exception=None):
    if _is_admin(request):
        return django_defaults.bad_request(request, exception)
    return json_error(InvalidRequest())


def handler403(request, exception=None):
    if _is_admin(request):
        return django_defaults.permission_denied(request, exception)
    return json_error(PermissionDenied())


def handler404(request, exception=None):
    if _is_admin(request):
        return django_defaults.page_not_found(request, exception)
    return json_error(NotFound(f"Nothing at {request.path}."))


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown paths under /api/, whatever the method, with DEBUG on too."""
    return json_error(NotFound(f"Nothing at {request.path}."))


def handler500(request):
    # Django calls this while handling the exception: a database outage outside DRF's views
    # (the admin, the session middleware) is a 503 too, logged as one line, not a traceback.
    exc = sys.exc_info()[1]
    if exc is not None and database.is_unavailable(exc):
        error = database_unavailable(exc)
        if _is_admin(request):
            response = HttpResponse(loader.render_to_string("503.html"), status=503)
            response["Retry-After"] = error.headers["Retry-After"]
        else:
            response = json_error(error)
        response._has_been_logged = True
        return response
    if _is_admin(request):
        return django_defaults.server_error(request)
    return json_error(internal_error())
