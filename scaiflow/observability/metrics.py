"""Prometheus metrics, and `GET /metrics` (docs/operators.md, Monitoring).

Every metric ScaiFlow exports is defined here, once. Labels only ever take values from a
bounded set: constants of the code (steps, services, endpoint templates, error codes), HTTP
statuses, and URL patterns — never an id, a tenant or anything a caller typed.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` puts every worker's values in files of that
directory (prometheus-client's multiprocess mode), so a scrape of any worker answers the sum.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from scaiflow.core.errors import NotAuthenticated, json_error

logger = logging.getLogger("scaiflow.metrics")

# Metrics live in their own registry, not the library's global one: the single-process
# exposition then shows ScaiFlow's metrics, not whatever else registered there.
REGISTRY = CollectorRegistry(auto_describe=True)
# Deploys and upstream calls wait on the network: their latency reaches the read timeout.
SLOW_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))

DEPLOYS = Counter(
    "scaiflow_deploys",
    "Deploy attempts by final status and error code (empty when none).",
    ["status", "error"],
    registry=REGISTRY,
)
DEPLOY_DURATION = Histogram(
    "scaiflow_deploy_duration_seconds",
    "Seconds a deploy request took, from the record's start to its answer.",
    buckets=SLOW_BUCKETS,
    registry=REGISTRY,
)
DEPLOY_STEP_DURATION = Histogram(
    "scaiflow_deploy_step_duration_seconds",
    "Seconds each step of the deploy pipeline took.",
    ["step"],
    buckets=SLOW_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_REQUESTS = Counter(
    "scaiflow_upstream_requests",
    "Calls to upstream services by endpoint template and HTTP status (or timeout, "
    "connection_error, error when no answer came).",
    ["service", "endpoint", "status"],
    registry=REGISTRY,
)
UPSTREAM_DURATION = Histogram(
    "scaiflow_upstream_request_duration_seconds",
    "Seconds upstream calls took, retries included.",
    ["service", "endpoint"],
    buckets=SLOW_BUCKETS,
    registry=REGISTRY,
)
EVENTS_CACHE = Counter(
    "scaiflow_events_cache",
    "Live events polls: hit (cached answer), miss (asked upstream), shared (waited for "
    "another request's answer).",
    ["result"],
    registry=REGISTRY,
)
COMPILE_CACHE = Counter(
    "scaiflow_compile_cache",
    "Compiles of a saved flow version: hit (cached result) or miss (compiled).",
    ["result"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "scaiflow_http_requests",
    "HTTP requests by method, URL pattern and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "scaiflow_http_request_duration_seconds",
    "Seconds HTTP requests took, by method and URL pattern.",
    ["method", "route"],
    registry=REGISTRY,
)
IDEMPOTENT_REPLAYS = Counter(
    "scaiflow_idempotent_replays",
    "Deploy requests answered with the kept answer of an earlier one (Idempotency-Key).",
    registry=REGISTRY,
)
THROTTLED = Counter(
    "scaiflow_throttled",
    "Requests refused with 429 by the deploy rate limit.",
    registry=REGISTRY,
)

# Methods a label may name; anything else a client sends is `other`.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


# Collectors read at scrape time (from the database, say), registered by the apps that own
# what they count: in multiprocess mode they join the workers' summed metrics.
SCRAPE_TIME_COLLECTORS: list[Any] = []


def register_scrape_time_collector(collector: Any) -> None:
    if collector not in SCRAPE_TIME_COLLECTORS:
        SCRAPE_TIME_COLLECTORS.append(collector)
        REGISTRY.register(collector)


# The children of the per-request metrics by their labels: `labels()` costs microseconds a
# call, a dict lookup a fraction of one. As bounded as the labels themselves.
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_upstream_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def http_observe(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    key = (method, route, status)
    children = _http_children.get(key)
    if children is None:
        route = route or UNMATCHED_ROUTE
        children = _http_children.setdefault(
            key,
            (HTTP_REQUESTS.labels(method, route, str(status)), HTTP_DURATION.labels(method, route)),
        )
    children[0].inc()
    children[1].observe(seconds)


def upstream_observe(service: str, endpoint: str, status: str, seconds: float) -> None:
    key = (service, endpoint, status)
    children = _upstream_children.get(key)
    if children is None:
        children = _upstream_children.setdefault(
            key,
            (UPSTREAM_REQUESTS.labels(service, endpoint, status),
             UPSTREAM_DURATION.labels(service, endpoint)),
        )  # fmt: skip
    children[0].inc()
    children[1].observe(seconds)


def exposition() -> bytes:
    """The text format of every metric: summed over the workers in multiprocess mode."""
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    for collector in SCRAPE_TIME_COLLECTORS:
        registry.register(collector)
    return generate_latest(registry)


@never_cache
@require_GET
def metrics_view(request) -> HttpResponse:
    """`GET /metrics`: 404 unless SCAIFLOW_METRICS_TOKEN is set, then 401 without it."""
    token = settings.SCAIFLOW_METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.encode(), token.encode()):
        return json_error(
            NotAuthenticated(
                "Send SCAIFLOW_METRICS_TOKEN as a bearer token.",
                fix="Send `Authorization: Bearer <the metrics token>` (SCAIFLOW_METRICS_TOKEN).",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
