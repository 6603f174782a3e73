"""OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Then every request (opentelemetry-instrumentation-django), each deploy step (`span`) and each
upstream call (opentelemetry-instrumentation-requests, which also sends W3C `traceparent`
beside our `X-Request-ID`) is a span, exported over OTLP/HTTP. Unset, OpenTelemetry is never
imported and `span` is a no-op.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

_tracer: Any = None


def configure() -> None:
    """At start-up (ScaiflowConfig.ready): export to the configured endpoint, if any."""
    from django.conf import settings

    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT
    if not endpoint or _tracer is not None:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
    )
    # The generic endpoint names the collector; traces go to its /v1/traces (OTLP's rule).
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    instrument(provider)


def instrument(provider: Any) -> None:
    """Trace requests in and out, and deploy steps, with `provider`'s tracers."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    global _tracer
    DjangoInstrumentor().instrument(tracer_provider=provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("scaiflow")


def uninstrument() -> None:
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    global _tracer
    DjangoInstrumentor().uninstrument()
    RequestsInstrumentor().uninstrument()
    _tracer = None


def span(name: str, **attributes: str) -> AbstractContextManager:
    """A span around the block when tracing is on; an exception marks it failed."""
    if _tracer is None:
        return nullcontext()
    return _tracer.start_as_current_span(name, attributes=attributes)
