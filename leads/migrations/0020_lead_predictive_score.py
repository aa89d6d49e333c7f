import django.db.models.functions.comparison
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The predictive score (scoring.services.predictive writes it; null while no model
    is active and for closed leads), and its index for sorting highest first with the
    unscored last (leads.filters SORT_KEYS: the same expression)."""

    # The index is built without blocking writes to a table of a million leads.
    atomic = False

    dependencies = [("leads", "0019_duplicatereport")]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="predictive_score",
            field=models.SmallIntegerField(blank=True, null=True),
        ),
        AddIndexConcurrently(
            model_name="lead",
            index=models.Index(
                django.db.models.functions.comparison.Coalesce(
                    models.F("predictive_score"), models.Value(-1)
                ),
                models.F("id"),
                name="lead_predictive_idx",
            ),
        ),
    ]
