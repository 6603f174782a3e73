"""One log event, one line: values from outside (a token's `sub`, a flow's name, an upstream's
answer) must not start a line of their own in the log, where it would pass for another event.

`log_escape` shows control characters as escapes (`\\n`, `\\x1b`, `\\u2028`); the
`EscapeControlCharacters` filter applies it to every record's message on the handlers it sits on
(settings.LOGGING puts it on the console handler). A handler with another formatter (JSON, say)
takes the same filter; a formatter that writes record attributes of its own can call
`log_escape` on them.
"""

from __future__ import annotations

import logging
import logging.config
import re

from scaiflow.observability.context import current_log_fields, current_request_id

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def log_escape(value: str) -> str:
    """`value` with each control character written as its escape, so it stays on one line."""
    return _CONTROL.sub(_escape, value)


class EscapeControlCharacters(logging.Filter):
    """Escapes the control characters of a record's message (its arguments included).

    Tracebacks are left alone: they are the server's own lines, not a caller's value.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = log_escape(message)
        if escaped != message:
            # The formatted message replaces msg/args: every handler now sees one line.
            record.msg, record.args = escaped, None
        return True


def configure_logging(config: dict) -> None:
    """LOGGING_CONFIG: stamp the request id and the log context on every log record."""
    make_record = logging.getLogRecordFactory()

    def record_with_request_id(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = current_request_id()
        fields = current_log_fields()
        if fields:
            record.__dict__.update(fields)
        return record

    if not getattr(make_record, "stamps_request_id", False):
        record_with_request_id.stamps_request_id = True
        logging.setLogRecordFactory(record_with_request_id)
    logging.config.dictConfig(config)


def logging_config(*, level: str, log_format: str) -> dict:
    """settings.LOGGING: one console handler in `log_format` (`plain` or `json`), every line of
    a request stamped with its request id (configure_logging) and kept to one line."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            # These fields, then what is known of the request (tenant, actor, flow_id,
            # deployment_id) and the access line's method, route, status and duration_ms.
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            },
        },
        # One event, one line: a caller's value with a newline must not forge a line of its own.
        # Every handler takes this filter, whatever its formatter (scaiflow/observability/logs.py).
        "filters": {"one_line": {"()": "scaiflow.observability.logs.EscapeControlCharacters"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["one_line"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # 4xx answers are part of the API, not incidents.
            "django.request": {"level": "ERROR"},
        },
    }
