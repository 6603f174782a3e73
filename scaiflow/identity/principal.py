"""Who an API request is from: `request.user` of every authenticated API call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scaiflow.identity.claims import ROLE_TENANT_ADMIN

if TYPE_CHECKING:
    from tenants.models import Tenant

AUTH_MODE_SCAIKEY = "scaikey"
AUTH_MODE_API_TOKEN = "api_token"  # noqa: S105 - a mode's name, not a secret


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a ScaiKey subject or the shared-token service principal."""

    tenant: Tenant
    subject: str
    auth_mode: str
    roles: frozenset[str] = frozenset()
    # The caller's raw JWT, forwarded to ScaiGrid on deploy; never shown.
    token: str | None = field(default=None, repr=False)

    is_authenticated = True
    is_anonymous = False

    @property
    def is_tenant_admin(self) -> bool:
        return ROLE_TENANT_ADMIN in self.roles

    @property
    def actor(self) -> str:
        """How records name this caller, e.g. `scaikey:alice`."""
        return f"{self.auth_mode}:{self.subject}"

    def __str__(self) -> str:
        return self.actor
