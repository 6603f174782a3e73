"""Request ids, the log context, and the access line.

Request ids are taken from `X-Request-ID` when the caller sends a sane one, else generated;
echoed on every response and stamped on every log record written while the request runs,
beside what is known of the request so far (`log_context`: tenant, actor, flow, deployment).
"""

from __future__ import annotations

import logging
import logging.config
import re
import time
import uuid
from contextvars import ContextVar

from scaiflow import metrics

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_log_fields: ContextVar[dict[str, str] | None] = ContextVar("log_fields", default=None)
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_logger = logging.getLogger("scaiflow.access")


def current_request_id() -> str:
    return _request_id.get()


def log_context(**fields: str | None) -> None:
    """Stamp `fields` (tenant, actor, flow_id, deployment_id) on the request's later log lines.

    Outside a request (a command, a worker thread) it does nothing: nothing would end it."""
    current = _log_fields.get()
    if current is not None:
        current.update({name: value for name, value in fields.items() if value})


class RequestIDMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if _ACCEPTABLE_ID.match(sent) else uuid.uuid4().hex
        token = _request_id.set(request.request_id)
        fields_token = _log_fields.set({})
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            _log_fields.reset(fields_token)
            _request_id.reset(token)


class AccessMiddleware:
    """One access line and the HTTP metrics per request, by URL pattern (never the path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else ""
        metrics.http_observe(request.method, route, response.status_code, seconds)
        access_logger.info(
            "%s %s %s %.1f ms", request.method, request.path, response.status_code,
            seconds * 1000,
            extra={"method": request.method, "route": route or metrics.UNMATCHED_ROUTE,
                   "path": request.path, "status": response.status_code,
                   "duration_ms": round(seconds * 1000, 1)},
        )  # fmt: skip
        return response


def configure_logging(config: dict) -> None:
    """LOGGING_CONFIG: stamp the request id and the log context on every log record."""
    make_record = logging.getLogRecordFactory()

    def record_with_request_id(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        fields = _log_fields.get()
        if fields:
            record.__dict__.update(fields)
        return record

    if not getattr(make_record, "stamps_request_id", False):
        record_with_request_id.stamps_request_id = True
        logging.setLogRecordFactory(record_with_request_id)
    logging.config.dictConfig(config)
