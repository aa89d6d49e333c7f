from django.db import migrations


class Migration(migrations.Migration):
    """Half of every page of leads_lead left free: a rescoring rewrites every lead's
    scores, and the new row version fits on the same page as the old one (a HOT update,
    no index touched) only if the page has room for a second copy of its rows. Existing
    pages keep their old fill until rewritten (VACUUM FULL leads_lead, at a quiet time)."""

    dependencies = [("leads", "0010_lead_scores_update_in_place")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE leads_lead SET (fillfactor = 45)",
            "ALTER TABLE leads_lead SET (fillfactor = 70)",
        ),
    ]
