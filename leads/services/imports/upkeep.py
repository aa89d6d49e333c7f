"""The imports' tick job: fail the runs a lost worker left `running`, and remove
uploaded files once they are no longer needed.

A run holds its import's advisory lock for as long as it works (jobs.run_import), so
a `running` import whose lock is free has no worker any more: its transaction rolled
back, nothing was imported, and it is marked failed so a person can start it again
(a redelivered task then finds it failed and leaves it alone).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce

from leads.models import ImportJob
from leads.services.imports.jobs import LOCK_NAMESPACE

Status = ImportJob.Status
STORAGE = ImportJob._meta.get_field("file").storage
LOST = (
    "The import stopped because its worker was lost; nothing was imported. "
    "Start it again from the preview."
)
NEVER_STARTED = "The import was never started; its file was removed. Upload it again."


def upkeep(now: datetime) -> dict[str, int]:
    return {"lost_runs_failed": fail_lost_runs(now), "files_removed": remove_old_files(now)}


def fail_lost_runs(now: datetime) -> int:
    failed = 0
    for job_id in ImportJob.objects.filter(status=Status.RUNNING).values_list("pk", flat=True):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)",
                    [LOCK_NAMESPACE, job_id & 0x7FFFFFFF],
                )
                (free,) = cursor.fetchone()
            if not free:
                continue  # a worker is on it
            failed += ImportJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
                status=Status.FAILED,
                errors=[{"row": None, "column": None, "message": LOST}],
                rows_imported=0,
                rows_created=0,
                rows_updated=0,
                finished_at=now,
            )
    return failed


def remove_old_files(now: datetime) -> int:
    """Files of imports finished (or undone) over IMPORT_KEEP_DAYS ago, and of uploads
    never started in that time (those are marked failed)."""
    cutoff = now - timedelta(days=settings.IMPORT_KEEP_DAYS)
    ended = Q(status__in=[Status.DONE, Status.FAILED, Status.UNDONE], ended__lt=cutoff)
    abandoned = Q(status=Status.PENDING, created_at__lt=cutoff)
    jobs = (
        ImportJob.objects.exclude(file="")
        .annotate(ended=Coalesce("undone_at", "finished_at", "created_at"))
        .filter(ended | abandoned)
    )
    removed = 0
    for job in jobs:
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(pk=job.pk)
            if job.status == Status.RUNNING:
                continue  # started meanwhile
            if job.status == Status.PENDING:
                job.status = Status.FAILED
                job.errors = [{"row": None, "column": None, "message": NEVER_STARTED}]
                job.finished_at = now
            name = job.file.name
            job.file = ""
            job.save()
            transaction.on_commit(partial(STORAGE.delete, name))
        removed += 1
    return removed
