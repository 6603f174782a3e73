"""Who is calling the stand-ins, and what they may do.

Every ScaiGrid, ScaiQueue and ScaiVault endpoint wants `Authorization: Bearer <credential>`;
missing or unknown → 401 `{"error": "unauthorized", ...}`, known but lacking the endpoint's
permission → 403 `{"error": "permission_denied", "message": "need <permission>"}` (SPEC §5).

Accepted credentials:
- API keys held in the state: `DEFAULT_API_KEY` (ScaiGrid and ScaiQueue, all of their
  permissions), `DEFAULT_VAULT_TOKEN` (ScaiVault only: ScaiVault has its own token), and keys
  registered through `POST /_devstack/keys` with any permission set and optionally a tenant.
- JWTs minted by devstack's ScaiKey, verified with its own keys (signature, `exp`, `iss`,
  `aud`). Their permissions: the `scopes` claim when the token has one (a list, or a
  space-separated string as in OAuth), exactly; otherwise `MEMBER_PERMISSIONS`, because every
  principal of a tenant may deploy (SPEC §1) and ScaiFlow forwards the caller's JWT. Roles do
  not widen or narrow that; mint a token with `scopes` to get a narrower one. A JWT never
  opens ScaiVault.

A credential's tenant (a JWT's `tenant` claim, a registered key's `tenant`) scopes the Cores it
sees: another tenant's Core answers 404. Keys without a tenant see every Core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from devstack.http import ApiError, Request

if TYPE_CHECKING:
    from devstack.scaikey import SigningKeys
    from devstack.state import State

PERM_SCAIGRID_DEPLOY = "scaigrid:deploy"
PERM_SCAIGRID_EVENTS = "scaigrid:events"
PERM_SCAIQUEUE_MANAGE = "scaiqueue:manage"
PERM_SCAIVAULT_SECRETS = "scaivault:secrets"
ALL_PERMISSIONS = frozenset(
    {PERM_SCAIGRID_DEPLOY, PERM_SCAIGRID_EVENTS, PERM_SCAIQUEUE_MANAGE, PERM_SCAIVAULT_SECRETS}
)
MEMBER_PERMISSIONS = frozenset({PERM_SCAIGRID_DEPLOY, PERM_SCAIGRID_EVENTS, PERM_SCAIQUEUE_MANAGE})

DEFAULT_API_KEY = "sgk_devstack_0000000000000000"
DEFAULT_VAULT_TOKEN = "svt_devstack_0000000000000000"  # noqa: S105 - a published dev token

KIND_JWT = "jwt"
KIND_API_KEY = "api_key"


@dataclass(frozen=True)
class ApiKey:
    """A static credential: an API key or a ScaiVault token."""

    key: str
    permissions: frozenset[str]
    tenant: str | None = None
    label: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "permissions": sorted(self.permissions),
            "tenant": self.tenant,
            "label": self.label,
        }


def default_api_keys() -> list[ApiKey]:
    return [
        ApiKey(DEFAULT_API_KEY, MEMBER_PERMISSIONS, label="default ScaiGrid/ScaiQueue key"),
        ApiKey(DEFAULT_VAULT_TOKEN, frozenset({PERM_SCAIVAULT_SECRETS}), label="ScaiVault token"),
    ]


@dataclass(frozen=True)
class Caller:
    """An authenticated credential."""

    kind: str
    subject: str
    tenant: str | None
    permissions: frozenset[str]

    def describe(self) -> dict[str, Any]:
        """How the call log names this caller (never the credential itself)."""
        return {"kind": self.kind, "subject": self.subject, "tenant": self.tenant}

    def can_see(self, tenant: str | None) -> bool:
        return self.tenant is None or tenant is None or self.tenant == tenant


def unauthorized(message: str) -> ApiError:
    return ApiError("unauthorized", message, status=401)


def authenticate(request: Request, state: State, signing: SigningKeys) -> Caller:
    """The caller of `request`; raises a 401 `ApiError` when there is none."""
    scheme, _, credential = request.header("authorization").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise unauthorized("missing bearer credential")
    if credential.count(".") == 2:
        return _jwt_caller(credential, signing)
    with state.lock:
        key = state.api_keys.get(credential)
    if key is None:
        raise unauthorized("unknown API key")
    hint = f"{credential[:4]}…{credential[-4:]}"
    return Caller(KIND_API_KEY, hint, key.tenant, key.permissions)


def _jwt_caller(token: str, signing: SigningKeys) -> Caller:
    try:
        claims = signing.verify(token)
    except jwt.PyJWTError as exc:
        raise unauthorized(f"invalid token: {exc}") from exc
    scopes = claims.get("scopes")
    if isinstance(scopes, str):
        permissions = frozenset(scopes.split())
    elif isinstance(scopes, list):
        permissions = frozenset(str(scope) for scope in scopes)
    else:
        permissions = MEMBER_PERMISSIONS
    permissions -= {PERM_SCAIVAULT_SECRETS}
    tenant = claims.get("tenant")
    return Caller(KIND_JWT, str(claims.get("sub")), tenant if isinstance(tenant, str) else None,
                  permissions)  # fmt: skip


def require(caller: Caller, permission: str) -> None:
    """Raises the 403 of SPEC §5 when `caller` lacks `permission`."""
    if permission not in caller.permissions:
        raise ApiError("permission_denied", f"need {permission}", status=403)
