"""Tenants in the admin: the ScaiGrid key's status, and a write-only form to set or clear it.

The form goes through the same validation and service as the API; the key is never rendered
back (not even into the password field) and is hidden from Django's error reports.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from deployments.clients.http import UpstreamError
from deployments.clients.scaigrid import ScaiGridClient
from scaiflow.admin import LargeTableAdmin, ReadOnlyAdmin
from scaiflow.core.errors import ApiError
from tenants.admin_scope import ObjectActionsAdmin, TenantListFilter, TenantScopedAdmin
from tenants.credentials import scaigrid_credential_resolve
from tenants.models import AuditEntry, Tenant, TenantCredential, TenantMembership
from tenants.services import scaigrid_credential_delete, scaigrid_credential_set
from tenants.validators import scaigrid_api_key_validate, scaigrid_base_url_validate

API_KEY_FIELD = "scaigrid_api_key"


class TenantAdminForm(forms.ModelForm):
    scaigrid_api_key = forms.CharField(
        label="New ScaiGrid API key",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the current key.",
    )
    scaigrid_base_url = forms.CharField(
        label="ScaiGrid base URL",
        required=False,
        help_text="With a new key; default SCAIGRID_BASE_URL. Its host must be allowed.",
    )
    clear_scaigrid_credentials = forms.BooleanField(label="Clear the ScaiGrid key", required=False)

    class Meta:
        model = Tenant
        fields = ["slug", "name"]

    @sensitive_variables()
    def clean(self):
        data = super().clean()
        api_key = data.get(API_KEY_FIELD)
        base_url = data.get("scaigrid_base_url")
        if data.get("clear_scaigrid_credentials"):
            if api_key or base_url:
                self.add_error(
                    "clear_scaigrid_credentials", "Either set a new key or clear it, not both."
                )
            return data
        if api_key:
            try:
                scaigrid_api_key_validate(api_key)
            except ValidationError as exc:
                self.add_error(API_KEY_FIELD, exc)
        if base_url:
            if not api_key:
                self.add_error("scaigrid_base_url", "Enter the key again to change the base URL.")
            else:
                try:
                    data["scaigrid_base_url"] = scaigrid_base_url_validate(base_url)
                except ValidationError as exc:
                    self.add_error("scaigrid_base_url", exc)
        return data


@admin.register(Tenant)
class TenantAdmin(ObjectActionsAdmin, TenantScopedAdmin, admin.ModelAdmin):
    # Its actions also appear as buttons on the change page.
    change_form_template = "admin/change_form_with_actions.html"
    tenant_lookup = "pk"
    form = TenantAdminForm
    actions = ["test_scaigrid_credentials"]
    list_display = ("slug", "name", "scaigrid_key", "created_at")
    list_select_related = ("scaigrid_credential",)
    search_fields = ("slug", "name")
    readonly_fields = ("created_at", "scaigrid_credential_status")
    fieldsets = (
        (None, {"fields": ("slug", "name", "created_at")}),
        (
            "ScaiGrid credentials",
            {
                "fields": (
                    "scaigrid_credential_status",
                    API_KEY_FIELD,
                    "scaigrid_base_url",
                    "clear_scaigrid_credentials",
                )
            },
        ),
    )

    object_actions = [("test_scaigrid_credentials", "Test ScaiGrid credentials")]

    def get_readonly_fields(self, request, obj=None):
        # The slug is what ScaiKey tokens name: only operators rename a tenant.
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser else ("slug", *fields)

    @admin.display(description="ScaiGrid key")
    def scaigrid_key(self, tenant: Tenant) -> str:
        record = _credential(tenant)
        return f"{record.api_key_hint} ({record.storage})" if record else "—"

    @admin.display(description="Current ScaiGrid key")
    def scaigrid_credential_status(self, tenant: Tenant) -> str:
        record = _credential(tenant)
        if record is None:
            return "Not set."
        return format_html(
            "{} at {}, stored in {}; set {} by {}",
            record.api_key_hint,
            record.base_url,
            record.get_storage_display(),
            record.updated_at.strftime("%Y-%m-%d %H:%M UTC"),
            record.updated_by,
        )

    # It uses the tenant's key: for those who may change the tenant, not those who only view it.
    @admin.action(description="Test ScaiGrid credentials", permissions=["change"])
    def test_scaigrid_credentials(self, request, queryset) -> None:
        """One harmless authenticated call per tenant; the result, never the key, as a message."""
        for tenant in queryset:
            try:
                credential = scaigrid_credential_resolve(tenant=tenant)
                ScaiGridClient(base_url=credential.base_url, credential=credential.secret).ping()
            except ApiError as exc:
                messages.error(request, f"{tenant.slug}: {exc.message}")
            except UpstreamError as exc:
                status = exc.status or "no answer"
                messages.error(request, f"{tenant.slug}: ScaiGrid answered {status}: {exc.message}")
            else:
                messages.success(
                    request,
                    f"{tenant.slug}: ScaiGrid at {credential.base_url} accepted the "
                    f"{credential.source} credentials.",
                )

    @method_decorator(sensitive_post_parameters(API_KEY_FIELD))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    @sensitive_variables()
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        actor = f"admin:{request.user.get_username()}"
        try:
            if data.get("clear_scaigrid_credentials"):
                scaigrid_credential_delete(tenant=obj, actor=actor)
            elif data.get(API_KEY_FIELD):
                scaigrid_credential_set(
                    tenant=obj,
                    api_key=data[API_KEY_FIELD],
                    base_url=data.get("scaigrid_base_url") or None,
                    actor=actor,
                )
        except ValidationError as exc:
            messages.error(request, f"The ScaiGrid key was not changed: {' '.join(exc.messages)}")
        except ApiError as exc:
            messages.error(request, f"The ScaiGrid key was not changed: {exc.message}")


def _credential(tenant: Tenant) -> TenantCredential | None:
    try:
        return tenant.scaigrid_credential
    except TenantCredential.DoesNotExist:
        return None


@admin.register(TenantMembership)
class TenantMembershipAdmin(TenantScopedAdmin, admin.ModelAdmin):
    tenant_lookup = "tenant_id"
    list_display = ("user", "tenant", "role", "from_scaikey", "created_at")
    list_filter = ("role", "from_scaikey")
    list_select_related = ("user", "tenant")
    search_fields = ("user__username", "tenant__slug")
    autocomplete_fields = ("user", "tenant")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin, LargeTableAdmin, TenantScopedAdmin, admin.ModelAdmin):
    """The audit log, read-only: nothing here can add, change or delete an entry."""

    list_display = ("created_at", "tenant", "kind", "actor", "target", "request_id")
    list_filter = ("kind", TenantListFilter, "created_at")
    # Exactly: a flow or deployment id, an actor (`scaikey:alice`) or a request id.
    search_fields = ("target", "actor", "request_id")
    exact_search_fields = ("target", "actor", "request_id")
    readonly_fields = ("tenant", "kind", "actor", "target", "request_id", "data", "created_at")
