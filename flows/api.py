"""The Flows API (SPEC §3 "Flows"): views with their input and output serializers.

Views only translate HTTP to the services and selectors and back. Write answers carry the flow
object without `content` (the caller just sent it); `GET /flows/{id}` carries it. `ETag` is
the flow's version number: it changes when the content does, not when only the name or the
description does (those never make a version).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response

from deployments.api import deployment_summary
from deployments.selectors import latest_deployments
from flows.diff import flow_versions_diff
from flows.models import FLOW_NAME_MAX_LENGTH, Flow
from flows.selectors import flow_version_content, flow_versions, flows_for_tenant
from flows.services import flow_compile, flow_create, flow_delete, flow_update
from scaiflow.core.api import TenantAPIView, parse_if_match, validated
from scaiflow.core.errors import InvalidRequest
from scaiflow.core.schema import NO_NUL
from scaiflow.core.schema import error as _error

DESCRIPTION_MAX_LENGTH = 10_000
SEARCH_MAX_LENGTH = 200

# --- Serializers -----------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FlowGraphField(serializers.DictField):
    """A flow's content: any JSON object (a FlowGraph). Not compiled on save."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "The FlowGraph: a JSON object (SPEC §6).")
        super().__init__(**kwargs)


class FlowCreateInput(serializers.Serializer):
    name = StrictCharField(max_length=FLOW_NAME_MAX_LENGTH)
    description = StrictCharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    content = FlowGraphField()


class FlowReplaceInput(FlowCreateInput):
    """PUT replaces the whole flow: a missing description becomes empty."""


class FlowPatchInput(serializers.Serializer):
    """PATCH changes only the fields it carries."""

    name = StrictCharField(max_length=FLOW_NAME_MAX_LENGTH, required=False)
    description = StrictCharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    content = FlowGraphField(required=False)


LATEST_DEPLOYMENT_SCHEMA = {
    "type": "object",
    "nullable": True,
    "additionalProperties": True,
    "description": "A summary of the flow's latest deployment, or null when it has none.",
}


class FlowOutput(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField()
    content_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    latest_deployment = serializers.SerializerMethodField()

    @extend_schema_field(LATEST_DEPLOYMENT_SCHEMA)
    def get_latest_deployment(self, flow: Flow) -> dict[str, Any] | None:
        """From `latest_deployments` in the context, fetched once for a whole page."""
        return deployment_summary(self.context.get("latest_deployments", {}).get(flow.pk))


class FlowDetailOutput(FlowOutput):
    content = serializers.SerializerMethodField()

    @extend_schema_field(FlowGraphField())
    def get_content(self, flow: Flow) -> dict[str, Any]:
        return self.context["content"]


class FlowVersionOutput(serializers.Serializer):
    version = serializers.IntegerField(source="number")
    content_sha256 = serializers.CharField(source="sha256")
    size = serializers.IntegerField(help_text="Bytes of the stored (canonical JSON) content.")
    created_by = serializers.CharField(source="author")
    created_at = serializers.DateTimeField()


class FlowVersionDetailOutput(FlowVersionOutput):
    content = serializers.SerializerMethodField()

    @extend_schema_field(FlowGraphField())
    def get_content(self, version) -> dict[str, Any]:
        return self.context["content"]


NOT_FOUND = _error("`not_found`: no such flow (or version, or page) in your tenant.")
INVALID = _error("`invalid_request` with `fields`: a malformed body.")
TOO_LARGE = _error("`flow_too_large`: the body exceeds SCAIFLOW_MAX_FLOW_BYTES.")
CONFLICT = _error("`version_conflict` with `current_version`: If-Match names an old version.")
STORAGE_DOWN = _error("`flow_storage_unavailable`: flow storage is unreachable; nothing changed.")

ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description='The flow\'s version, quoted: `"3"`.',
)
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        'Only change the flow when its version is this one: `"3"` or `3` (several, '
        "comma-separated, or `*`). Otherwise 412 `version_conflict`."
    ),
)


# --- Helpers ---------------------------------------------------------------------------------


def etag(flow: Flow) -> str:
    return f'"{flow.version}"'


# --- Views -----------------------------------------------------------------------------------


class FlowAPIView(TenantAPIView):
    """A view of one of the caller's flows, addressed by its public id in the URL."""

    queryset = Flow.objects.select_related("tenant")
    lookup_field = "public_id"
    lookup_url_kwarg = "flow_id"


class FlowListView(TenantAPIView):
    """The tenant's flows: list and create."""

    queryset = Flow.objects.all()

    @extend_schema(
        operation_id="flows_list",
        summary="List flows",
        description="The tenant's flows, most recently changed first.",
        parameters=[
            OpenApiParameter(
                "search", OpenApiTypes.STR, pattern=NO_NUL, description="Part of the name."
            ),
        ],
        responses={200: FlowOutput(many=True), 404: _error("`not_found`: no such page.")},
    )
    def get(self, request):
        search = request.query_params.get("search", "").strip()[:SEARCH_MAX_LENGTH]
        if "\x00" in search:  # PostgreSQL cannot compare with it: a 400, not a 500
            raise InvalidRequest(
                "search must not contain NUL characters.",
                fields={"search": ["Null characters are not allowed."]},
            )
        page = self.paginate_queryset(flows_for_tenant(tenant=self.tenant, search=search))
        context = {"latest_deployments": latest_deployments(flows=page)}
        return self.get_paginated_response(FlowOutput(page, many=True, context=context).data)

    @extend_schema(
        operation_id="flows_create",
        summary="Create a flow",
        description="Saves version 1. The content is not compiled: drafts can be saved.",
        request=FlowCreateInput,
        parameters=[ETAG_HEADER],
        responses={
            201: FlowOutput,
            400: INVALID,
            413: TOO_LARGE,
            503: STORAGE_DOWN,
        },
    )
    def post(self, request):
        data = validated(FlowCreateInput, request.data)
        flow = flow_create(tenant=self.tenant, actor=self.principal.actor, **data)
        location = reverse("flow-detail", kwargs={"flow_id": flow.public_id})
        headers = {"Location": location, "ETag": etag(flow)}
        return Response(FlowOutput(flow).data, status=status.HTTP_201_CREATED, headers=headers)


UPDATE_RESPONSES = {
    200: FlowOutput,
    400: INVALID,
    404: NOT_FOUND,
    412: CONFLICT,
    413: TOO_LARGE,
    503: STORAGE_DOWN,
}


class FlowDetailView(FlowAPIView):
    """One flow: read (with its content), change, delete."""

    @extend_schema(
        operation_id="flows_retrieve",
        summary="Get a flow with its content",
        parameters=[ETAG_HEADER],
        responses={200: FlowDetailOutput, 404: NOT_FOUND, 503: STORAGE_DOWN},
    )
    def get(self, request, flow_id: str):
        flow = self.get_object()
        current = flow_version_content(tenant=self.tenant, flow=flow)
        context = {
            "content": current.content,
            "latest_deployments": latest_deployments(flows=[flow]),
        }
        body = FlowDetailOutput(flow, context=context).data
        return Response(body, headers={"ETag": etag(flow)})

    @extend_schema(
        operation_id="flows_replace",
        summary="Replace a flow",
        description=(
            "A content change makes a new version; equal content (same canonical JSON) and "
            "name or description changes do not. A missing description becomes empty."
        ),
        request=FlowReplaceInput,
        parameters=[IF_MATCH_HEADER, ETAG_HEADER],
        responses=UPDATE_RESPONSES,
    )
    def put(self, request, flow_id: str):
        return self._update(request, FlowReplaceInput)

    @extend_schema(
        operation_id="flows_partial_update",
        summary="Change some fields of a flow",
        description=(
            "Only the fields sent change. A content change makes a new version; name and "
            "description changes do not."
        ),
        request=FlowPatchInput,
        parameters=[IF_MATCH_HEADER, ETAG_HEADER],
        responses=UPDATE_RESPONSES,
    )
    def patch(self, request, flow_id: str):
        return self._update(request, FlowPatchInput)

    def _update(self, request, input_class: type[serializers.Serializer]) -> Response:
        data = validated(input_class, request.data)
        flow = flow_update(
            flow=self.get_object(),
            actor=self.principal.actor,
            if_match=parse_if_match(request.headers.get("If-Match")),
            **data,
        )
        return Response(FlowOutput(flow).data, headers={"ETag": etag(flow)})

    @extend_schema(
        operation_id="flows_destroy",
        summary="Delete a flow",
        description="Deletes the flow and its versions; its deployment records stay.",
        parameters=[IF_MATCH_HEADER],
        responses={204: None, 404: NOT_FOUND, 412: CONFLICT},
    )
    def delete(self, request, flow_id: str):
        flow_delete(
            flow=self.get_object(),
            actor=self.principal.actor,
            if_match=parse_if_match(request.headers.get("If-Match")),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowVersionListView(FlowAPIView):
    """A flow's version history, newest first."""

    @extend_schema(
        operation_id="flows_versions_list",
        summary="List a flow's versions",
        responses={200: FlowVersionOutput(many=True), 404: NOT_FOUND},
    )
    def get(self, request, flow_id: str):
        versions = flow_versions(tenant=self.tenant, flow=self.get_object())
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(FlowVersionOutput(page, many=True).data)


class FlowVersionDetailView(FlowAPIView):
    """One version of a flow, with its content: every version stays readable."""

    @extend_schema(
        operation_id="flows_versions_retrieve",
        summary="Get one version of a flow with its content",
        responses={200: FlowVersionDetailOutput, 404: NOT_FOUND, 503: STORAGE_DOWN},
    )
    def get(self, request, flow_id: str, number: int):
        stored = flow_version_content(tenant=self.tenant, flow=self.get_object(), number=number)
        body = FlowVersionDetailOutput(stored.version, context={"content": stored.content}).data
        return Response(body)


class CompileInput(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class CompileOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    messages = serializers.ListField(child=serializers.DictField())
    manifest = serializers.CharField(allow_null=True)
    ir = serializers.DictField(allow_null=True)


class FlowCompileView(FlowAPIView):
    """A dry run: compile the stored content (SPEC §3); 200 even when it does not compile."""

    @extend_schema(
        operation_id="flows_compile",
        summary="Compile a flow (dry run)",
        description="Compiles the current version, or `version` when given.",
        request=CompileInput,
        responses={200: CompileOutput, 404: NOT_FOUND, 503: STORAGE_DOWN},
    )
    def post(self, request, flow_id: str):
        # The body is optional: none compiles the latest version.
        data = validated(CompileInput, request.data)
        stored = flow_version_content(
            tenant=self.tenant, flow=self.get_object(), number=data.get("version")
        )
        result = flow_compile(
            flow=stored.flow,
            content=stored.content,
            version=stored.version.number,
            content_sha256=stored.version.sha256,
        )
        return Response(result.as_dict())


class FlowVersionDiffView(FlowAPIView):
    """What changed from version `a` to version `b` (SPEC §3 "Versions diff")."""

    @extend_schema(
        operation_id="flows_versions_diff",
        summary="Diff two versions of a flow",
        responses={200: OpenApiTypes.OBJECT, 404: NOT_FOUND, 503: STORAGE_DOWN},
    )
    def get(self, request, flow_id: str, a: int, b: int):
        return Response(flow_versions_diff(tenant=self.tenant, flow=self.get_object(), a=a, b=b))
