"""What the current request is: its id and the fields its log lines carry.

Context variables only, importing nothing of ScaiFlow, so that errors, clients, the pipeline
and the logging set-up can all read them without importing one another.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
log_fields_var: ContextVar[dict[str, str] | None] = ContextVar("log_fields", default=None)


def current_request_id() -> str:
    return request_id_var.get()


def current_log_fields() -> dict[str, str] | None:
    return log_fields_var.get()


def log_context(**fields: str | None) -> None:
    """Stamp `fields` (tenant, actor, flow_id, deployment_id) on the request's later log lines.

    Outside a request (a command, a worker thread) it does nothing: nothing would end it."""
    current = log_fields_var.get()
    if current is not None:
        current.update({name: value for name, value in fields.items() if value})
