# The audit list pages by (created_at, id) within a tenant and each of its filters; each gets
# an index in that order. Built CONCURRENTLY on PostgreSQL: the table may hold millions.
from django.db import migrations, models

from scaiflow.core.online_indexes import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("tenants", "0006_slug_full_match")]

    operations = [
        AddIndexOnline(
            model_name="auditentry",
            index=models.Index(fields=["tenant", "-created_at", "-id"], name="audit_tenant_recent"),
        ),
        AddIndexOnline(
            model_name="auditentry",
            index=models.Index(
                fields=["tenant", "kind", "-created_at", "-id"], name="audit_kind_recent"
            ),
        ),
        AddIndexOnline(
            model_name="auditentry",
            index=models.Index(
                fields=["tenant", "actor", "-created_at", "-id"], name="audit_actor_recent"
            ),
        ),
        AddIndexOnline(
            model_name="auditentry",
            index=models.Index(
                fields=["tenant", "target", "-created_at", "-id"], name="audit_target_recent"
            ),
        ),
        AddIndexOnline(
            model_name="auditentry",
            index=models.Index(fields=["kind", "-created_at"], name="audit_any_kind_recent"),
        ),
        # A prefix of audit_tenant_recent.
        RemoveIndexOnline(model_name="auditentry", name="tenants_aud_tenant__08063f_idx"),
    ]
