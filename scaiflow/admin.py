"""The admin's one tenant scope: a staff user who is not a superuser sees, changes and can
point rows at only the tenants they are tenant admin of. Rows of other tenants are simply
not in the queryset, so their change URLs answer like unknown ids and autocomplete never
offers them."""

from django.db.models import QuerySet

from tenants.models import Role, Tenant, TenantMembership


def admin_tenant_ids(user) -> QuerySet:
    return TenantMembership.objects.filter(user=user, role=Role.TENANT_ADMIN).values("tenant_id")


class TenantScopedAdmin:
    """Mixin for a ModelAdmin; `tenant_lookup` is the path from the model to the tenant's pk."""

    tenant_lookup = "tenant_id"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_lookup}__in": admin_tenant_ids(request.user)})

    def _in_scope(self, request, obj) -> bool:
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Nor can they point a row at another tenant.
        if db_field.related_model is Tenant and not request.user.is_superuser:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=admin_tenant_ids(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
