# A rollback's pointer to the record it rolled back loses its database constraint: the
# application clears it itself (SET_NULL) when that record goes, and the constraint's check
# cost prune_deployments a trigger run per deleted record. Dropping a constraint takes a
# moment's lock and rewrites nothing: safe on a live database.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0002_list_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deployment",
            name="rollback_of",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="deployments.deployment",
            ),
        ),
    ]
