"""Who is calling the API: a ScaiKey JWT of a tenant, or the legacy shared token (SPEC §1).

Both DRF authentication classes put a `Principal` on `request.user`; views read the tenant, the
roles and the auth mode from it, and the deploy forwards `principal.token` upstream. The token
is verified by scaiflow.identity.scaikey and its claims read by scaiflow.identity.claims; here
they are tied to the tenant they name, created on first sight.

Tenants by slug are kept per process for TENANT_CACHE_SECONDS, so a repeated request stays off
the database. A save or delete of a tenant in this process empties that cache at once; other
processes see the change within TENANT_CACHE_SECONDS.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from scaiflow.core.lru import ExpiringLRU
from scaiflow.identity.claims import InvalidClaims, scaikey_claims_parse
from scaiflow.identity.principal import AUTH_MODE_API_TOKEN, AUTH_MODE_SCAIKEY, Principal
from scaiflow.identity.scaikey import InvalidToken, bearer_token, get_verifier
from tenants.models import Tenant
from tenants.services import tenant_get_or_create

TENANTS_MAX = 1024
TENANT_CACHE_SECONDS = 10.0


class SharedTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <SCAIFLOW_API_TOKEN>`: the default tenant's service principal."""

    def authenticate(self, request):
        expected = settings.SCAIFLOW_API_TOKEN
        token = bearer_token(request)
        if not expected or token is None:
            return None
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return None  # maybe a JWT: the next class decides
        tenant = tenant_by_slug(settings.SCAIFLOW_DEFAULT_TENANT)
        return Principal(tenant=tenant, subject="api-token", auth_mode=AUTH_MODE_API_TOKEN), None

    def authenticate_header(self, request):
        return 'Bearer realm="scaiflow"'


class ScaiKeyJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <ScaiKey JWT>`. The tenant is created on first sight."""

    def authenticate(self, request):
        token = bearer_token(request)
        if token is None:
            if get_authorization_header(request):
                raise AuthenticationFailed("Authorization header must be `Bearer <token>`")
            return None
        try:
            claims = get_verifier().claims(token)
            principal = _principal_from_claims(claims, token)
        except InvalidToken as exc:
            raise AuthenticationFailed(str(exc)) from None
        return principal, token

    def authenticate_header(self, request):
        return 'Bearer realm="scaiflow"'


def _principal_from_claims(claims: dict, token: str) -> Principal:
    try:
        parsed = scaikey_claims_parse(claims, tenant_claim=settings.SCAIKEY_TENANT_CLAIM)
        tenant = tenant_by_slug(parsed.tenant_slug)
    except InvalidClaims as exc:
        raise InvalidToken(str(exc)) from None
    except ValidationError as exc:
        raise InvalidToken("token names an invalid tenant") from exc
    return Principal(
        tenant=tenant,
        subject=parsed.subject,
        auth_mode=AUTH_MODE_SCAIKEY,
        roles=parsed.roles,
        token=token,
    )


_tenants = ExpiringLRU(TENANTS_MAX)


def tenant_by_slug(slug: str) -> Tenant:
    """The tenant a token names, created on first sight; a fresh instance on every call.

    Only the row's values are kept, so no request sees another's related-object caches. A row
    is kept once its transaction commits: a tenant created in a transaction that then rolls
    back is never served from here.
    """
    row = _tenants.get(slug)
    if row is not None:
        return Tenant.from_db(*row)
    tenant = tenant_get_or_create(slug=slug)
    names = [field.attname for field in Tenant._meta.concrete_fields]
    row = (tenant._state.db, names, [getattr(tenant, name) for name in names])
    until = _tenants.clock() + TENANT_CACHE_SECONDS
    transaction.on_commit(lambda: _tenants.put(slug, row, until=until), using=tenant._state.db)
    return tenant


@receiver(post_save, sender=Tenant)
@receiver(post_delete, sender=Tenant)
def forget_cached_tenants(**kwargs) -> None:
    """A tenant renamed or deleted here is not served from the cache again (others: soon)."""
    _tenants.clear()
