from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("nurturing", "0002_exit_erased")]

    operations = [
        # Every row there is already has its timeline entry (written with the send).
        migrations.AddField(
            model_name="send",
            name="on_timeline",
            field=models.BooleanField(db_default=True),
        ),
        migrations.AlterField(
            model_name="send",
            name="on_timeline",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddIndex(
            model_name="send",
            index=models.Index(
                condition=models.Q(("on_timeline", False), ("status", "sent")),
                fields=["sent_at", "id"],
                name="send_untimelined_idx",
            ),
        ),
    ]
