"""Request ids and the access line.

Request ids are taken from `X-Request-ID` when the caller sends a sane one, else generated;
echoed on every response and stamped on every log record written while the request runs
(scaiflow/observability/logs.py), beside what is known of the request so far
(`context.log_context`: tenant, actor, flow, deployment).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from scaiflow.observability import metrics
from scaiflow.observability.context import log_fields_var, request_id_var

_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_logger = logging.getLogger("scaiflow.access")


class RequestIDMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if _ACCEPTABLE_ID.fullmatch(sent) else uuid.uuid4().hex
        token = request_id_var.set(request.request_id)
        fields_token = log_fields_var.set({})
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            log_fields_var.reset(fields_token)
            request_id_var.reset(token)


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
