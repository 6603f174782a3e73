"""Deploy endpoints (SPEC §3 "Deployments", "Legacy deploy", §4)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from deployments.idempotency import (
    MAX_KEY_LENGTH,
    Replay,
    idempotency_claim,
    idempotency_record,
    idempotency_release,
    request_fingerprint,
)
from deployments.models import Deployment, Status
from deployments.services import deployment_rollback, flow_deploy, legacy_deploy
from flows.selectors import flow_get
from scaiflow.core.api import TenantAPIView, parse_if_match, validated
from scaiflow.core.database import UNAVAILABLE, wait_for_database
from scaiflow.core.errors import (
    ApiError,
    DatabaseUnavailable,
    InvalidRequest,
    NotFound,
    error_response,
)
from scaiflow.core.pagination import KeysetPagination
from scaiflow.core.schema import error
from scaiflow.observability import metrics
from tenants.authentication import SharedTokenAuthentication

# RFC 9745 / RFC 8594: when /dev/deploy was deprecated and when it goes away.
LEGACY_DEPRECATED_AT = 1767225600  # 2026-01-01T00:00:00Z
LEGACY_SUNSET = "Thu, 01 Jul 2027 00:00:00 GMT"
LEGACY_SUCCESSOR = '</api/v1/flows/{flow_id}/deploy>; rel="successor-version"'


# What a deploy can answer besides 201 (SPEC §4's error matrix); 400/401/404/429 come from
# scaiflow.schema's house rules.
DEPLOY_ERRORS = {
    400: error("`compile_error` with `messages`, or `invalid_request` with `fields`."),
    409: error("`deploy_in_progress` with `deployment_id`: another deploy of the flow runs."),
    412: error(
        "`missing_scaigrid_credentials`: no credential to call ScaiGrid with; or "
        "`version_conflict`: If-Match names an old version."
    ),
    422: error("`idempotency_key_reused`: the same Idempotency-Key with another request."),
    502: error(
        "An upstream failed: `scaiqueue_auth`, `scaiqueue_provision_failed`, "
        "`scaicore_create_failed`, `scaicore_publish_failed`, `scaicore_unpublish_failed` or "
        "`scaivault_unavailable`; with `deployment_id`."
    ),
    503: error("`flow_storage_unavailable`: the flow's content could not be read."),
}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description=f"Replays the first answer for 24 h; at most {MAX_KEY_LENGTH} characters.",
)
LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201], description="The deployment."
)
PAGE_NOT_FOUND = error("`not_found`: no such page.")
BAD_PAGE = "a `page` past 10, or a `cursor` this list did not give out"
LEGACY_HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, response=True, required=True,
                     description=description)
    for name, description in (
        ("Deprecation", "When the endpoint was deprecated (RFC 9745)."),
        ("Sunset", "When it goes away (RFC 8594)."),
        ("Link", "Its successor: `/api/v1/flows/{flow_id}/deploy`."),
    )
]  # fmt: skip


class DeployRateThrottle(SimpleRateThrottle):
    """Deploy attempts (POST) against two budgets, kept in the shared cache (so they hold across
    processes): SCAIFLOW_DEPLOY_RATE per principal, and SCAIFLOW_DEPLOY_TENANT_RATE per tenant,
    shared by all its principals and the legacy token, so more subjects never mean more deploys.

    An attempt counts against both or neither: one refused by either budget uses up none, so a
    caller over their own budget cannot drain the tenant's. A principal's budget folds the
    subject's case: a `sub` is case-sensitive and `Alice` is not `alice`, but for a rate limit
    sharing one budget between them costs a real user little and denies a token issuer's case
    variants a budget each. Other methods on a deploy path (GET, OPTIONS, a 405) count nothing.
    """

    scope = "deploy"

    def __init__(self) -> None:
        pass  # the rates are read on each request, not once (SimpleRateThrottle's default)

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        principal = request.user
        tenant = principal.tenant.pk
        budgets = [
            (f"throttle:deploy:{tenant}:{principal.auth_mode}:{principal.subject.lower()}",
             settings.SCAIFLOW_DEPLOY_RATE),
            (f"throttle:deploy-tenant:{tenant}", settings.SCAIFLOW_DEPLOY_TENANT_RATE),
        ]  # fmt: skip
        self.now = self.timer()
        histories, waits = [], []
        for key, rate in budgets:
            allowed, duration = self.parse_rate(rate)
            history = [at for at in self.cache.get(key, []) if at > self.now - duration]
            if len(history) >= allowed:
                waits.append(duration - (self.now - history[-1]) if history else duration)
            histories.append((key, history, duration))
        if waits:
            self.refused_for = max(waits)
            return self.throttle_failure()
        for key, history, duration in histories:
            self.cache.set(key, [self.now, *history], duration)
        return True

    def wait(self) -> float:
        return self.refused_for

    def throttle_failure(self):
        metrics.THROTTLED.inc()
        return super().throttle_failure()


class DeploymentOutput(serializers.Serializer):
    id = serializers.CharField()
    flow_id = serializers.SerializerMethodField()
    flow_name = serializers.CharField()
    flow_version = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Status.choices)
    error = serializers.JSONField(allow_null=True)
    core_id = serializers.SerializerMethodField()
    published_slug = serializers.SerializerMethodField()
    publish_as_model = serializers.BooleanField()
    group_ids = serializers.ListField(child=serializers.CharField())
    core_action = serializers.SerializerMethodField()
    auth_source = serializers.SerializerMethodField()
    actor = serializers.CharField()
    manifest_sha256 = serializers.SerializerMethodField()
    rollback_of = serializers.CharField(source="rollback_of_id", allow_null=True)
    steps = serializers.JSONField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_flow_id(self, deployment) -> str | None:
        return deployment.flow.public_id if deployment.flow_id else None

    # Empty strings in the database are "not set": the API says null.
    def get_core_id(self, deployment) -> str | None:
        return deployment.core_id or None

    def get_published_slug(self, deployment) -> str | None:
        return deployment.published_slug or None

    def get_core_action(self, deployment) -> str | None:
        return deployment.core_action or None

    def get_auth_source(self, deployment) -> str | None:
        return deployment.auth_source or None

    def get_manifest_sha256(self, deployment) -> str | None:
        return deployment.manifest_sha256 or None


def deployment_summary(deployment: Deployment | None) -> dict | None:
    """What a flow shows as its `latest_deployment`."""
    if deployment is None:
        return None
    return {
        "id": deployment.pk,
        "status": deployment.status,
        "flow_version": deployment.flow_version,
        "core_id": deployment.core_id or None,
        "created_at": serializers.DateTimeField().to_representation(deployment.created_at),
    }


class DeployInput(serializers.Serializer):
    publish_as_model = serializers.BooleanField(required=False)
    group_ids = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class LegacyDeployInput(serializers.Serializer):
    content = serializers.DictField()
    publish_as_model = serializers.BooleanField(required=False)


class LegacyDeployOutput(serializers.Serializer):
    core_id = serializers.CharField()
    published_slug = serializers.CharField(allow_null=True)
    deployment_id = serializers.CharField()


def _timed(run: Callable[[], Response]) -> Response:
    """`run()`, its time observed as a deploy's duration (a replay is not a deploy)."""
    with metrics.DEPLOY_DURATION.time():
        return run()


def _idempotent(request, tenant, run: Callable[[], Response]) -> Response:
    """Run `run` once per Idempotency-Key (per tenant, 24 h); replay its answer after that."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return _timed(run)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.")
    fingerprint = request_fingerprint(method=request.method, path=request.path, body=request.data)
    claim = idempotency_claim(tenant=tenant, key=key, fingerprint=fingerprint)
    if isinstance(claim, Replay):
        metrics.IDEMPOTENT_REPLAYS.inc()
        response = Response(claim.body, status=claim.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        response = _timed(run)
    except (DatabaseUnavailable, *UNAVAILABLE):
        # Not an answer to keep for a day: let a retry with the key run, once it can.
        with contextlib.suppress(*UNAVAILABLE):
            wait_for_database(lambda: idempotency_release(claim=claim), seconds=5)
        raise
    except ApiError as error:
        response = error_response(error)
    except BaseException:
        idempotency_release(claim=claim)
        raise
    idempotency_record(claim=claim, status_code=response.status_code, body=response.data)
    return response


class FlowDeployView(TenantAPIView):
    """Deploy a flow (SPEC §4)."""

    throttle_classes = [DeployRateThrottle]

    @extend_schema(
        request=DeployInput,
        responses={201: DeploymentOutput, **DEPLOY_ERRORS},
        parameters=[
            IDEMPOTENCY_KEY,
            LOCATION,
            OpenApiParameter(
                "If-Match",
                str,
                OpenApiParameter.HEADER,
                description="Deploy only when the flow's version is this one (else 412).",
            ),
        ],
        operation_id="flows_deploy",
    )
    def post(self, request, flow_id: str):
        flow = flow_get(tenant=self.tenant, flow_id=flow_id)
        data = validated(DeployInput, request.data)
        if_match = parse_if_match(request.headers.get("If-Match"))

        def run() -> Response:
            return _created(
                flow_deploy(
                    flow=flow,
                    actor=self.principal.actor,
                    principal=self.principal,
                    version=data.get("version"),
                    publish_as_model=data.get("publish_as_model"),
                    group_ids=data.get("group_ids"),
                    if_match=if_match,
                )
            )

        return _idempotent(request, self.tenant, run)


def _created(deployment: Deployment) -> Response:
    return Response(
        DeploymentOutput(deployment).data,
        status=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/deployments/{deployment.pk}"},
    )


class DeploymentRollbackView(TenantAPIView):
    """Redeploy a deployment's flow version and publish settings (a rollback)."""

    queryset = Deployment.objects.select_related("flow", "flow__tenant")
    throttle_classes = [DeployRateThrottle]

    @extend_schema(
        request=None,
        responses={201: DeploymentOutput, **DEPLOY_ERRORS},
        parameters=[IDEMPOTENCY_KEY, LOCATION],
        operation_id="deployments_rollback",
    )
    def post(self, request, deployment_id: str):
        target = self.get_queryset().filter(pk=deployment_id).first()
        if target is None:
            raise NotFound("No such deployment.")

        def run() -> Response:
            return _created(
                deployment_rollback(
                    deployment=target, actor=self.principal.actor, principal=self.principal
                )
            )

        return _idempotent(request, self.tenant, run)


class DeploymentList(TenantAPIView):
    """The tenant's deployments, newest first; `?status=` filters."""

    queryset = Deployment.objects.select_related("flow")
    serializer_class = DeploymentOutput
    pagination_class = KeysetPagination

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Status.values)],
        responses={
            200: DeploymentOutput(many=True),
            400: error(f"`invalid_request`: an unknown `status`, {BAD_PAGE}."),
            404: PAGE_NOT_FOUND,
        },
        operation_id="deployments_list",
    )
    def get(self, request):
        deployments = self.get_queryset()
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in Status.values:
                raise InvalidRequest(f"status must be one of {', '.join(Status.values)}.")
            deployments = deployments.filter(status=wanted)
        page = self.paginate_queryset(deployments)
        return self.get_paginated_response(DeploymentOutput(page, many=True).data)


class FlowDeploymentList(DeploymentList):
    """One flow's deployments, newest first."""

    @extend_schema(
        responses={
            200: DeploymentOutput(many=True),
            400: error(f"`invalid_request`: {BAD_PAGE}."),
            404: error("`not_found`: no such flow in your tenant, or no such page."),
        },
        operation_id="flows_deployments_list",
    )
    def get(self, request, flow_id: str):
        flow = flow_get(tenant=self.tenant, flow_id=flow_id)
        deployments = self.get_queryset().filter(flow=flow)
        page = self.paginate_queryset(deployments)
        return self.get_paginated_response(DeploymentOutput(page, many=True).data)


class DeploymentDetail(TenantAPIView):
    queryset = Deployment.objects.select_related("flow")

    @extend_schema(responses=DeploymentOutput, operation_id="deployments_retrieve")
    def get(self, request, deployment_id: str):
        deployment = self.get_queryset().filter(pk=deployment_id).first()
        if deployment is None:
            raise NotFound("No such deployment.")
        return Response(DeploymentOutput(deployment).data)


class LegacyDeployView(TenantAPIView):
    """Deprecated: compile and deploy a flow without saving it (shared token only)."""

    authentication_classes = [SharedTokenAuthentication]
    throttle_classes = [DeployRateThrottle]

    def initial(self, request, *args, **kwargs):
        if not settings.SCAIFLOW_API_TOKEN:
            raise NotFound()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Deprecation"] = f"@{LEGACY_DEPRECATED_AT}"
        response["Sunset"] = LEGACY_SUNSET
        response["Link"] = LEGACY_SUCCESSOR
        return response

    @extend_schema(
        request=LegacyDeployInput,
        responses={
            200: LegacyDeployOutput,
            **DEPLOY_ERRORS,
            404: error("`not_found`: SCAIFLOW_API_TOKEN is unset, so the path is off."),
        },
        parameters=[IDEMPOTENCY_KEY, *LEGACY_HEADERS],
        deprecated=True,
        operation_id="dev_deploy",
    )
    def post(self, request):
        data = validated(LegacyDeployInput, request.data)

        def run() -> Response:
            deployment = legacy_deploy(
                tenant=self.tenant,
                content=data["content"],
                actor=self.principal.actor,
                principal=self.principal,
                publish_as_model=data.get("publish_as_model"),
            )
            body = {
                "core_id": deployment.core_id,
                "published_slug": deployment.published_slug or None,
                "deployment_id": deployment.pk,
            }
            return Response(LegacyDeployOutput(body).data)

        return _idempotent(request, self.tenant, run)
