"""The two groups that give tenant users their admin permissions, and which a user is in.

"Tenant admins" see their tenant, set, clear and test its ScaiGrid key, see its flows,
deployments and audit entries and run Compile, Deploy, Retry publish and Redeploy; "Tenant
members" only see. Which rows they see is the admin's tenant scope (tenants/admin_scope.py); which
group a user is in follows their memberships' roles, kept in step on every membership change.
The groups' permissions are set by a migration and again after every `migrate`, so they are
right out of the box and after an upgrade.
"""

from __future__ import annotations

from scaiflow.identity.claims import ROLE_MEMBER, ROLE_TENANT_ADMIN

TENANT_ADMINS = "Tenant admins"
TENANT_MEMBERS = "Tenant members"

_VIEW = [
    ("tenants", "view_tenant"),
    ("tenants", "view_auditentry"),
    ("flows", "view_flow"),
    ("flows", "view_flowversion"),
    ("deployments", "view_deployment"),
]
GROUP_PERMISSIONS = {
    # change_tenant: the ScaiGrid key form and its test; change_flow and change_deployment:
    # the deploy actions (the rows themselves stay read-only in the admin).
    TENANT_ADMINS: [
        *_VIEW,
        ("tenants", "change_tenant"),
        ("flows", "change_flow"),
        ("deployments", "change_deployment"),
    ],
    TENANT_MEMBERS: _VIEW,
}


def groups_permissions_sync(group_model, permission_model) -> None:
    """Create the groups and give each exactly its permissions (those that exist yet).

    Takes the models as arguments so that the migration can pass its historical ones."""
    for name, wanted in GROUP_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        permissions = [
            permission
            for permission in permission_model.objects.filter(
                content_type__app_label__in={app for app, _ in wanted}
            ).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        group.permissions.set(permissions)


def user_groups_sync(user, group_model=None, membership_model=None) -> None:
    """Put `user` in the groups their memberships' roles call for, and out of the others."""
    if group_model is None:
        from django.contrib.auth.models import Group as group_model
    if membership_model is None:
        from tenants.models import TenantMembership as membership_model
    roles = set(membership_model.objects.filter(user=user).values_list("role", flat=True))
    wanted = {TENANT_ADMINS: ROLE_TENANT_ADMIN in roles, TENANT_MEMBERS: ROLE_MEMBER in roles}
    for name, member in wanted.items():
        group, _ = group_model.objects.get_or_create(name=name)
        if member:
            user.groups.add(group)
        else:
            user.groups.remove(group)
