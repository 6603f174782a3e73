"""Reads on tenants."""

from tenants.models import Tenant, TenantCredential


def scaigrid_credential_for_tenant(*, tenant: Tenant) -> TenantCredential | None:
    """The status of the tenant's ScaiGrid key (hint, base URL, storage), or None when unset."""
    return TenantCredential.objects.filter(tenant=tenant).select_related("tenant").first()
