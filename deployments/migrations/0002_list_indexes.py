# The lists page by (created_at, id) within a tenant, a status, a flow or an error code; each
# gets an index in that order. Built CONCURRENTLY on PostgreSQL: the table may hold millions.
from django.db import migrations, models

from scaiflow.core.online_indexes import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("deployments", "0001_initial"),
        ("flows", "0001_initial"),
        ("tenants", "0003_auditentry"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="deployment", options={"ordering": ["-created_at", "-id"]}
        ),
        AddIndexOnline(
            model_name="deployment",
            index=models.Index(
                fields=["tenant", "-created_at", "-id"], name="deployment_tenant_recent"
            ),
        ),
        AddIndexOnline(
            model_name="deployment",
            index=models.Index(
                fields=["tenant", "status", "-created_at", "-id"], name="deployment_status_recent"
            ),
        ),
        AddIndexOnline(
            model_name="deployment",
            index=models.Index(
                fields=["flow", "-created_at", "-id"], name="deployment_flow_recent"
            ),
        ),
        AddIndexOnline(
            model_name="deployment",
            index=models.Index(
                fields=["status", "-created_at"], name="deployment_any_status_recent"
            ),
        ),
        AddIndexOnline(
            model_name="deployment",
            index=models.Index(
                fields=["error_code", "-created_at"], name="deployment_error_recent"
            ),
        ),
        # Prefixes of the new ones.
        RemoveIndexOnline(model_name="deployment", name="deployments_tenant__b0a8a0_idx"),
        RemoveIndexOnline(model_name="deployment", name="deployments_flow_id_b033f7_idx"),
    ]
