"""Undoing an import: the leads it created go, the fields it filled come back.

SQL is assembled from model metadata only; values travel as parameters.
"""

# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction

from leads import hooks
from leads.exceptions import InvalidTransition
from leads.models import ImportJob, Lead
from leads.services.imports import merge

Status = ImportJob.Status
DELETE_BATCH = 5000


# --- undo --------------------------------------------------------------------------


def undo_import(*, job_id: int, by, now: datetime) -> ImportJob:
    """Delete the leads an import created (with their history) and put back the fields it
    filled on existing leads where they still hold the imported value. Idempotent."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == Status.UNDONE:
            return job
        if job.status != Status.DONE:
            raise InvalidTransition(
                f"Only a finished import can be undone; this one is {job.status}."
            )
        try:
            with transaction.atomic():
                _revert_fills(job, by_id=by.pk if by else None, now=now)
        except IntegrityError:
            raise InvalidTransition(
                "This import cannot be undone: putting back the old values would give a lead "
                "no identity or another lead's email or external id."
            ) from None
        while batch := list(
            Lead.objects.filter(import_job=job).values_list("pk", flat=True)[:DELETE_BATCH]
        ):
            Lead.objects.filter(pk__in=batch).delete()
        job.status = Status.UNDONE
        job.undone_at = now
        job.save(update_fields=["status", "undone_at"])
        hooks.announce("leads_changed_in_bulk", lead_ids=None, import_id=job.pk, now=now)
    return job


def _revert_fills(job: ImportJob, *, by_id: int | None, now: datetime) -> None:
    columns = {name: merge.column_of(name) for name in merge.FILL_FIELDS}
    columns["latest_campaign"] = "latest_campaign_id"
    current = " ".join(f"WHEN '{name}' THEN to_jsonb(l.{col})" for name, col in columns.items())
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS import_undo")
        cursor.execute(
            "CREATE TEMP TABLE import_undo ON COMMIT DROP AS "
            "SELECT fc.lead_id, fc.field, fc.old_value, fc.new_value "
            "FROM leads_fieldchange fc JOIN leads_lead l ON l.id = fc.lead_id "
            "WHERE fc.import_job_id = %s AND fc.channel = 'import' "
            f"AND (CASE fc.field {current} ELSE l.custom -> substr(fc.field, 8) END) "
            "= fc.new_value",
            [job.pk],
        )
        for name, column in columns.items():
            db_type = Lead._meta.get_field(name).db_type(connection)
            cursor.execute(
                f"UPDATE leads_lead l SET {column} = (u.old_value #>> '{{}}')::{db_type}, "
                "updated_at = %s FROM import_undo u WHERE u.lead_id = l.id AND u.field = %s",
                [now, name],
            )
        cursor.execute(
            "UPDATE leads_lead l SET custom = l.custom - k.keys, updated_at = %s FROM ("
            "SELECT lead_id, array_agg(substr(field, 8)) AS keys FROM import_undo "
            "WHERE field LIKE 'custom.%%' GROUP BY lead_id) k WHERE k.lead_id = l.id",
            [now],
        )
        cursor.execute(
            "INSERT INTO leads_fieldchange (lead_id, field, old_value, new_value, changed_at, "
            "changed_by_id, channel, import_job_id) SELECT lead_id, field, new_value, old_value, "
            "%s, %s, 'import_undo', %s FROM import_undo",
            [now, by_id, job.pk],
        )
        cursor.execute("DROP TABLE import_undo")
