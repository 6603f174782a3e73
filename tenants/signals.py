"""Keeps the tenant groups in step: after `migrate`, and on every membership change."""

from django.contrib.auth.models import Group, Permission
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from tenants.groups import groups_permissions_sync, user_groups_sync
from tenants.models import TenantMembership


def groups_after_migrate(sender, **kwargs) -> None:
    # Sent once per app, each after that app's permissions are created: the last one sees all.
    groups_permissions_sync(Group, Permission)


@receiver(post_save, sender=TenantMembership)
@receiver(post_delete, sender=TenantMembership)
def membership_changed(sender, instance: TenantMembership, **kwargs) -> None:
    user_groups_sync(instance.user)


post_migrate.connect(groups_after_migrate, dispatch_uid="tenants.groups_after_migrate")
