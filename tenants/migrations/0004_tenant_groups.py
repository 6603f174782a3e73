"""The groups "Tenant admins" and "Tenant members" with their permissions, and the users of
existing memberships put in them (tenants/groups.py; post_migrate keeps them in step later)."""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

from tenants.groups import GROUP_PERMISSIONS, groups_permissions_sync, user_groups_sync


def forwards(apps, schema_editor):
    # The permissions of a fresh database are only created after all migrations: make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    membership_model = apps.get_model("tenants", "TenantMembership")
    groups_permissions_sync(group_model, apps.get_model("auth", "Permission"))
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    for user in user_model.objects.filter(tenant_memberships__isnull=False).distinct():
        user_groups_sync(user, group_model, membership_model)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUP_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_auditentry"),
        ("flows", "0001_initial"),
        ("deployments", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
