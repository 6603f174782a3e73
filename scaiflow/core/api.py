"""Base classes of the API's views: tenant scoping lives here, once, so no view forgets it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission

from scaiflow.core.errors import InvalidRequest, PermissionDenied
from scaiflow.identity.principal import Principal
from scaiflow.observability.context import log_context

if TYPE_CHECKING:
    from tenants.models import Tenant


class IsTenantAdmin(BasePermission):
    """The caller's token carries the `tenant_admin` role."""

    def has_permission(self, request, view) -> bool:
        if not getattr(request.user, "is_tenant_admin", False):
            raise PermissionDenied("This needs the tenant_admin role.")
        return True


class TenantAPIView(generics.GenericAPIView):
    """A view of the caller's tenant. `get_queryset()` only ever sees that tenant's rows.

    Subclasses set `queryset` (a model with a `tenant` foreign key) and `lookup_field`; another
    tenant's object is simply not found (404), never forbidden (which would confirm it exists).
    """

    def initial(self, request, *args, **kwargs) -> None:
        # The ids of the URL, then the caller, go on the request's log lines.
        log_context(flow_id=kwargs.get("flow_id"), deployment_id=kwargs.get("deployment_id"))
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            # Parsed now, also where the view reads no body: a body that is not a JSON object
            # is a 400 on every operation (after authentication, so a stranger learns nothing).
            request.data  # noqa: B018

    def perform_authentication(self, request) -> None:
        super().perform_authentication(request)
        if request.user is not None:
            log_context(tenant=request.user.tenant.slug, actor=request.user.actor)

    @property
    def principal(self) -> Principal:
        return self.request.user

    @property
    def tenant(self) -> Tenant:
        return self.request.user.tenant

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.tenant)


# A flow's version is a 32-bit counter in the database: ten digits hold every one of them.
MAX_VERSION_DIGITS = 10


def parse_if_match(header: str | None) -> frozenset[int] | None:
    """The versions an If-Match header names; None when it names none in particular.

    Absent, empty or `*` → None (any version). Tags may be quoted or not; `W/` is ignored,
    because the tag is a version number, not the bytes a proxy may have re-encoded. A tag that
    is not a number names no version, so it never matches — nor does one of more than
    MAX_VERSION_DIGITS digits (no flow gets there, and `int()` refuses 4,300 digits and more).
    """
    if header is None or header.strip() in ("", "*"):
        return None
    versions = set()
    for part in header.split(","):
        tag = part.strip().removeprefix("W/")
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag.isascii() and tag.isdigit() and len(tag) <= MAX_VERSION_DIGITS:
            versions.add(int(tag))
    return frozenset(versions)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The request body's validated data; 400 `invalid_request` (with `fields`) otherwise."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
