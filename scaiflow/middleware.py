"""Request ids: taken from `X-Request-ID` when the caller sends a sane one, else generated;
echoed on every response and stamped on every log record written while the request runs."""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str:
    return _request_id.get()


class RequestIDMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if _ACCEPTABLE_ID.match(sent) else uuid.uuid4().hex
        token = _request_id.set(request.request_id)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            return response
        finally:
            _request_id.reset(token)


def configure_logging(config: dict) -> None:
    """LOGGING_CONFIG: stamp the request id on every log record, whoever handles it."""
    make_record = logging.getLogRecordFactory()

    def record_with_request_id(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    if not getattr(make_record, "stamps_request_id", False):
        record_with_request_id.stamps_request_id = True
        logging.setLogRecordFactory(record_with_request_id)
    logging.config.dictConfig(config)
