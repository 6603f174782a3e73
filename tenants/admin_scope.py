"""The admin's one tenant scope: a staff user who is not a superuser sees only the rows of
the tenants they have a membership of, and changes, runs actions on and points rows at only
those they are tenant admin of. Rows of other tenants are simply not in the queryset, so their
change URLs answer like unknown ids and autocomplete never offers them. What a user may do at
all comes from their groups (tenants/groups.py), which follow their memberships' roles."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet

from tenants.models import Role, Tenant, TenantMembership


def member_tenant_ids(user) -> QuerySet:
    return TenantMembership.objects.filter(user=user).values("tenant_id")


def admin_tenant_ids(user) -> QuerySet:
    return TenantMembership.objects.filter(user=user, role=Role.TENANT_ADMIN).values("tenant_id")


class TenantScopedAdmin:
    """Mixin for a ModelAdmin; `tenant_lookup` is the path from the model to the tenant's pk."""

    tenant_lookup = "tenant_id"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_lookup}__in": member_tenant_ids(request.user)})

    def administered(self, request, queryset):
        """The rows of `queryset` the user may change: those of tenants they administer."""
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_lookup}__in": admin_tenant_ids(request.user)})

    def _in_scope(self, request, obj, *, admin: bool = False) -> bool:
        if obj is None:
            return True
        queryset = self.get_queryset(request).filter(pk=obj.pk)
        return (self.administered(request, queryset) if admin else queryset).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._in_scope(
            request, obj, admin=True
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._in_scope(
            request, obj, admin=True
        )

    def response_action(self, request, queryset):
        # An action that needs more than viewing runs only on rows of administered tenants
        # (a member of another tenant sees its rows but must not deploy them).
        action = self.get_actions(request).get(request.POST.get("action", ""))
        if action and getattr(action[0], "allowed_permissions", ()):
            queryset = self.administered(request, queryset)
        return super().response_action(request, queryset)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Nor can they point a row at another tenant.
        if db_field.related_model is Tenant and not request.user.is_superuser:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=admin_tenant_ids(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ObjectActionsAdmin:
    """Mixin for a ModelAdmin whose change page shows some of its actions as buttons;
    `object_actions` is a list of (action name, label).

    Only the actions the user may run are shown: those Django's `get_actions` keeps, which
    drops the ones whose `permissions` the user lacks. Actions that deploy declare
    `permissions=["deploy"]`: they need the model's change permission, also where the admin
    shows its rows read-only (changes go through the services, not a form), so a staff user
    with only the view permission can neither see nor post them."""

    object_actions: list[tuple[str, str]] = []

    def has_deploy_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        allowed = self.get_actions(request)
        # On a row the user only views, only the actions that need no more than viewing.
        obj = self.get_object(request, unquote(object_id))
        administered = obj is not None and self._in_scope(request, obj, admin=True)
        buttons = [
            (name, label)
            for name, label in self.object_actions
            if obj is not None
            and name in allowed
            and (administered or not getattr(allowed[name][0], "allowed_permissions", ()))
            and self.object_action_applies(name, obj)
        ]
        extra_context = {**(extra_context or {}), "object_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def object_action_applies(self, name: str, obj) -> bool:
        """Whether the button of action `name` makes sense on `obj` (every one by default)."""
        return True


class TenantListFilter(admin.SimpleListFilter):
    """Rows by tenant, offering the tenants the user may see (every tenant they are a member
    of, whatever their role, as `TenantScopedAdmin.get_queryset` shows their rows): read from
    the tenants table, not found by a DISTINCT over a table of millions (Django's
    RelatedOnlyFieldListFilter). A filter with no choice is not shown at all."""

    title = "tenant"
    parameter_name = "tenant__id__exact"  # what the admin's own tenant filter used

    def lookups(self, request, model_admin):
        tenants = Tenant.objects.order_by("slug")
        if not request.user.is_superuser:
            tenants = tenants.filter(pk__in=member_tenant_ids(request.user))
        return [(str(pk), slug) for pk, slug in tenants.values_list("pk", "slug")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(tenant_id=int(value)) if value.isdigit() else queryset.none()
