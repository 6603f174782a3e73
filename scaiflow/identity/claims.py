"""The one reading of a ScaiKey token's claims: who (`sub`), which tenant, which roles.

The API (a bearer JWT) and the admin's sign-in (an ID token) both take a token's word through
`scaikey_claims_parse`, so a `sub` or a role the one refuses, the other refuses too. Patterns are
matched against the whole string (`fullmatch`): a trailing newline is not a valid ending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The roles ScaiFlow acts on; a token may carry others, which are kept but grant nothing.
ROLE_TENANT_ADMIN = "tenant_admin"
ROLE_MEMBER = "member"

# What a `sub` may be: OpenID Connect's at most 255 ASCII characters, printable and without
# whitespace. It is case-sensitive and kept as sent: `alice` and `Alice` are two subjects, as
# ScaiKey says; the deploy throttle folds case on its own.
SUBJECT_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
# A role is a short name; anything else (`tenant_admin\n`, objects, numbers) is no role at all.
ROLE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class InvalidClaims(ValueError):
    """A token whose claims name no valid subject or tenant; the message is safe to show."""


@dataclass(frozen=True)
class ScaiKeyClaims:
    subject: str
    tenant_slug: str
    roles: frozenset[str]

    @property
    def is_tenant_admin(self) -> bool:
        return ROLE_TENANT_ADMIN in self.roles


def scaikey_claims_parse(claims: Mapping[str, object], *, tenant_claim: str) -> ScaiKeyClaims:
    """The subject, tenant and roles of verified `claims`; InvalidClaims when they name none.

    `tenant_claim` is the claim that names the tenant (SCAIKEY_TENANT_CLAIM). Whether that
    tenant's slug is valid is the tenants app's to say. Roles that are not short names are
    dropped, never matched loosely.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidClaims(
            "token 'sub' claim must be 1 to 255 printable ASCII characters without whitespace"
        )
    slug = claims.get(tenant_claim)
    if not isinstance(slug, str) or not slug:
        raise InvalidClaims(f"token lacks the '{tenant_claim}' claim")
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        raise InvalidClaims("token 'roles' claim must be a list")
    return ScaiKeyClaims(
        subject=subject,
        tenant_slug=slug,
        roles=frozenset(
            role for role in roles if isinstance(role, str) and ROLE_PATTERN.fullmatch(role)
        ),
    )
