from django.core.exceptions import ValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from scaiflow.core.api import IsTenantAdmin, TenantAPIView, validated
from scaiflow.core.errors import InvalidRequest, NotFound
from scaiflow.core.pagination import KeysetPagination
from scaiflow.core.schema import error
from tenants.models import AuditEntry, AuditKind, CredentialStorage
from tenants.selectors import scaigrid_credential_for_tenant
from tenants.services import scaigrid_credential_delete, scaigrid_credential_set
from tenants.validators import scaigrid_api_key_validate, scaigrid_base_url_validate


class ScaigridCredentialsOutput(serializers.Serializer):
    """The status of a tenant's ScaiGrid key: never the key itself."""

    tenant = serializers.CharField(source="tenant.slug")
    base_url = serializers.CharField()
    api_key_hint = serializers.CharField(help_text="The key's prefix and last 4, e.g. sgk_…wxyz.")
    storage = serializers.ChoiceField(choices=CredentialStorage.choices)
    updated_at = serializers.DateTimeField()


class ScaigridCredentialsInput(serializers.Serializer):
    api_key = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        validators=[scaigrid_api_key_validate],
        style={"input_type": "password"},
        help_text="The tenant's ScaiGrid API key; at most 512 characters, no whitespace.",
    )
    base_url = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="Default SCAIGRID_BASE_URL; its host must be in SCAIGRID_ALLOWED_HOSTS.",
    )

    def validate_base_url(self, value: str) -> str:
        return scaigrid_base_url_validate(value)


class TenantMeOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    auth_mode = serializers.ChoiceField(choices=["scaikey", "api_token"])
    roles = serializers.ListField(child=serializers.CharField())
    scaigrid_credentials = ScaigridCredentialsOutput(allow_null=True)


class TenantMeView(TenantAPIView):
    """The caller's tenant, and how the caller is signed in."""

    @extend_schema(responses=TenantMeOutput, operation_id="tenants_me")
    def get(self, request):
        principal = self.principal
        data = {
            "slug": self.tenant.slug,
            "name": self.tenant.display_name,
            "auth_mode": principal.auth_mode,
            "roles": sorted(principal.roles),
            "scaigrid_credentials": scaigrid_credential_for_tenant(tenant=self.tenant),
        }
        return Response(TenantMeOutput(data).data)


@method_decorator(sensitive_post_parameters("api_key"), name="dispatch")
class ScaigridCredentialsView(TenantAPIView):
    """The tenant's ScaiGrid key: anyone of the tenant reads its status; tenant admins set it."""

    def get_permissions(self):
        permissions = super().get_permissions()
        if self.request.method in ("POST", "DELETE"):
            permissions.append(IsTenantAdmin())
        return permissions

    @extend_schema(
        operation_id="tenants_me_scaigrid_credentials_get",
        responses={
            200: ScaigridCredentialsOutput,
            404: error("No key is set for the tenant."),
        },
    )
    def get(self, request):
        record = scaigrid_credential_for_tenant(tenant=self.tenant)
        if record is None:
            raise NotFound(
                f"No ScaiGrid key is set for tenant '{self.tenant.slug}'.",
                fix="A tenant admin sets one with POST /api/v1/tenants/me/scaigrid_credentials.",
            )
        return Response(ScaigridCredentialsOutput(record).data)

    @extend_schema(
        operation_id="tenants_me_scaigrid_credentials_set",
        request=ScaigridCredentialsInput,
        responses={
            200: ScaigridCredentialsOutput,
            400: error("`invalid_request` with `fields`."),
            403: error("`permission_denied`: needs the tenant_admin role."),
            502: error("`scaivault_unavailable`."),
        },
    )
    @sensitive_variables()
    def post(self, request):
        data = validated(ScaigridCredentialsInput, request.data)
        try:
            record = scaigrid_credential_set(tenant=self.tenant, actor=self.principal.actor, **data)
        except ValidationError as exc:
            raise InvalidRequest(
                "The request has invalid fields.", fields=exc.message_dict
            ) from None
        return Response(ScaigridCredentialsOutput(record).data)

    @extend_schema(
        operation_id="tenants_me_scaigrid_credentials_delete",
        responses={
            204: None,
            403: error("`permission_denied`: needs the tenant_admin role."),
            502: error("`scaivault_unavailable`."),
        },
    )
    def delete(self, request):
        scaigrid_credential_delete(tenant=self.tenant, actor=self.principal.actor)
        return Response(status=204)


class AuditEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.CharField()
    target = serializers.CharField()
    request_id = serializers.CharField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()


class AuditFilter(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AuditKind.choices, required=False)
    actor = serializers.CharField(required=False, max_length=200)
    target = serializers.CharField(required=False, max_length=64)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class AuditListView(TenantAPIView):
    """The tenant's audit log, newest first; read-only (nothing can edit or delete it)."""

    queryset = AuditEntry.objects.all()
    pagination_class = KeysetPagination

    @extend_schema(
        parameters=[AuditFilter],
        responses={
            200: AuditEntryOutput(many=True),
            400: error(
                "`invalid_request` with `fields`: a bad filter, a `page` past 10, or a `cursor` "
                "this list did not give out."
            ),
            404: error("`not_found`: no such page."),
        },
        operation_id="audit_list",
    )
    def get(self, request):
        # A plain dict: a blank filter is invalid, not silently dropped (DRF's way with forms).
        wanted = AuditFilter(data=request.query_params.dict())
        wanted.is_valid(raise_exception=True)
        filters = wanted.validated_data
        entries = self.get_queryset()
        for field in ("kind", "actor", "target"):
            if field in filters:
                entries = entries.filter(**{field: filters[field]})
        if "since" in filters:
            entries = entries.filter(created_at__gte=filters["since"])
        if "until" in filters:
            entries = entries.filter(created_at__lt=filters["until"])
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntryOutput(page, many=True).data)
