"""Import jobs: upload, mapping, preview, the run (all or nothing) and undo.

Every entry point (pages, API, the Celery task, tests) goes through these.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat

from leads import hooks, roles
from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import Campaign, CustomField, ErasedEmail, Erasure, ImportJob, Source
from leads.services import erased
from leads.services.identity import IDENTITY_FIELDS
from leads.services.imports import files, merge, reading
from leads.services.imports.mapping import check_mapping, suggest_mapping, targets
from leads.services.imports.reading import CsvFormat, ImportFileError
from leads.services.imports.rows import RowError, RowParser

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 10  # rows shown as they would be imported
PREVIEW_CHECK_ROWS = 2000  # rows checked for errors before the import starts
MAX_STORED_ERRORS = 1000
PROGRESS_EVERY_ROWS = 10_000
# pg_try_advisory_xact_lock(namespace, job id): one run of a job at a time.
LOCK_NAMESPACE = 0x1EAD

Status = ImportJob.Status


class ImportFailed(Exception):
    """Row errors: the import writes nothing."""

    def __init__(self, errors: list[RowError], total: int | None = None):
        super().__init__(f"{total or len(errors)} errors")
        self.errors = errors
        self.total = total if total is not None else len(errors)


# --- reads -------------------------------------------------------------------------


def imports_visible_to(user) -> QuerySet[ImportJob]:
    """Marketing and admins see every import (they see every lead anyway); others none."""
    jobs = ImportJob.objects.select_related("campaign", "created_by")
    return jobs if roles.sees_all_leads(user) else jobs.none()


def open_upload(job: ImportJob):
    """The uploaded file, to read; a clear error once upkeep removed it."""
    if not job.file:
        raise LeadFlowError(
            f"The uploaded file of this import was removed {settings.IMPORT_KEEP_DAYS} days "
            "after it finished; upload the file again to import it.",
            field="file",
        )
    return job.file.open("rb")


def file_columns(job: ImportJob) -> list[str]:
    with open_upload(job) as binary:
        text = reading.open_text(binary, _format(job))
        try:
            for _, cells in reading.records(text, _format(job)):
                if not reading.is_blank(cells):
                    return reading.column_names(cells)
        finally:
            text.detach()
    return []


def column_samples(job: ImportJob, *, rows: int = 3) -> dict[str, list[str]]:
    """The first non-empty values of each column, to show beside the mapping."""
    samples: dict[str, list[str]] = {}
    with open_upload(job) as binary:
        text = reading.open_text(binary, _format(job))
        try:
            columns = None
            for n, (_, cells) in enumerate(reading.records(text, _format(job))):
                if reading.is_blank(cells):
                    continue
                if columns is None:
                    columns = reading.column_names(cells)
                    samples = {column: [] for column in columns}
                    continue
                for column, cell in zip(columns, cells, strict=False):
                    if cell.strip() and len(samples[column]) < rows:
                        samples[column].append(cell.strip()[:60])
                if n > 50:
                    break
        except ImportFileError:
            pass
        finally:
            text.detach()
    return samples


def _format(job: ImportJob) -> CsvFormat:
    return CsvFormat(encoding=job.encoding, delimiter=job.delimiter)


# --- upload and mapping ------------------------------------------------------------


def create_import_job(
    *,
    upload,
    source: str = Source.OTHER,
    campaign: Campaign | None = None,
    mapping: dict | None = None,
    by,
    now: datetime,
    start: bool,
) -> ImportJob:
    """Store an uploaded CSV as a pending job after checking it can be imported.

    With no `mapping` the columns are mapped as suggested from their headers. With
    `start` the job is enqueued when the transaction commits (the API; `started_at` is
    when it was queued); without it the mapping waits for a person to confirm it (the
    pages). ImportFileError or LeadFlowError (field "file" or "mapping") when the file
    or mapping is unusable.
    """
    limit = settings.IMPORT_MAX_BYTES
    if upload.size > limit:
        size, largest = filesizeformat(upload.size), filesizeformat(limit)
        if size == largest:  # just over: the rounded sizes would read the same
            size, largest = f"{upload.size:,} bytes", f"{limit:,} bytes"
        raise ImportFileError(
            f"The file is {size}; the largest file you can import is {largest}. "
            "Split it into smaller files."
        )
    if source not in Source.values:
        raise LeadFlowError(f"{source!r} is not a source.", field="source")
    summary = reading.inspect(upload)
    custom_fields = list(CustomField.objects.all())
    if mapping is None:
        mapping = suggest_mapping(summary.columns, custom_fields)
        if start and not any(t in IDENTITY_FIELDS for t in mapping.values()):
            raise LeadFlowError(
                "No column header names an email, phone or external id "
                f"(columns: {', '.join(summary.columns)}); send a mapping.",
                field="mapping",
            )
    if start or mapping:
        mapping = (
            check_mapping(mapping, summary.columns, custom_fields)
            if start
            else {c: t for c, t in mapping.items() if t}
        )
    upload.seek(0)
    with transaction.atomic():
        job = ImportJob(
            created_by=by,
            created_at=now,
            original_name=(upload.name or "import.csv")[-255:],
            size=upload.size,
            encoding=summary.format.encoding,
            delimiter=summary.format.delimiter,
            mapping=mapping,
            source=source,
            campaign=campaign,
            started_at=now if start else None,
        )
        job.file.save(upload.name or "import.csv", upload, save=False)
        job.save()
        if start:
            _enqueue(job)
    return job


def set_mapping(*, job_id: int, mapping: dict, by, now: datetime) -> ImportJob:
    """Change a job's mapping before it is started, or after it failed (which makes it
    pending again: a failed import wrote nothing). A queued job is cancelled first."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status not in (Status.PENDING, Status.FAILED):
            raise InvalidTransition(f"This import is {job.status}; its mapping cannot change.")
        if is_queued(job):
            raise InvalidTransition(
                "This import is queued for a worker; cancel it to change its mapping."
            )
        job.mapping = check_mapping(mapping, file_columns(job))
        _reset(job)
        job.save()
    return job


def _reset(job: ImportJob) -> None:
    job.status = Status.PENDING
    job.errors = []
    job.rows_total = job.rows_processed = job.rows_imported = 0
    job.rows_created = job.rows_updated = 0
    job.started_at = job.finished_at = None


def start_import(*, job_id: int, by, now: datetime) -> ImportJob:
    """Confirm a pending job's mapping and enqueue it (on commit); `started_at` says since
    when it is queued (a worker's run sets it again when it begins)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status == Status.FAILED:
            _reset(job)
        elif job.status != Status.PENDING:
            raise InvalidTransition(f"This import is already {job.status}.")
        job.mapping = check_mapping(job.mapping, file_columns(job))
        job.started_at = job.started_at or now
        job.save()
        _enqueue(job)
    return job


def is_queued(job: ImportJob) -> bool:
    """A pending job that was started (by a person or the API) and waits for a worker; a
    pending job that was not waits for a person to confirm its mapping."""
    return job.status == Status.PENDING and job.started_at is not None


@contextmanager
def _held(job_id: int):
    """The job's row, locked, and its run lock (the one `run_import` holds while it
    works): None while a worker is on it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job_id & 0x7FFFFFFF]
            )
            (locked,) = cursor.fetchone()
        yield ImportJob.objects.select_for_update().get(pk=job_id) if locked else None


_BUSY = "A worker is running this import right now; wait for it to finish."


def cancel_import(*, job_id: int, by, now: datetime) -> ImportJob:
    """Stop a pending import from running: it fails with "cancelled" and nothing is
    imported (a worker that takes up its queued task leaves it alone). Its mapping can
    then be changed and it can be started again, or it can be deleted."""
    with _held(job_id) as job:
        if job is None:
            raise InvalidTransition(_BUSY)
        if job.status != Status.PENDING:
            raise InvalidTransition(
                f"Only a pending import can be cancelled; this one is {job.status}."
            )
        who = getattr(by, "username", None) or "the system"
        job.status = Status.FAILED
        job.errors = [
            {"row": None, "column": None, "message": f"Cancelled by {who}; nothing was imported."}
        ]
        job.finished_at = now
        job.save(update_fields=["status", "errors", "finished_at"])
    return job


def delete_import(*, job_id: int, by, now: datetime) -> None:
    """Delete a pending or failed import and its uploaded file (once the deletion
    commits). Neither wrote anything; a done import is undone instead, never deleted."""
    with _held(job_id) as job:
        if job is None:
            raise InvalidTransition(_BUSY)
        if job.status not in (Status.PENDING, Status.FAILED):
            advice = " Undo it instead." if job.status == Status.DONE else ""
            raise InvalidTransition(
                f"Only a pending or failed import can be deleted; this one is {job.status}.{advice}"
            )
        name = job.file.name
        job.delete()
        if name:
            transaction.on_commit(partial(job.file.storage.delete, name))


def _enqueue(job: ImportJob) -> None:
    from leads.tasks import import_leads  # the task module imports this one

    import_leads.delay_on_commit(job.pk)


# --- preview -----------------------------------------------------------------------


@dataclass
class Preview:
    columns: list[str]
    headings: list[tuple[str, str]]  # (column, field label) of the mapped columns
    rows: list[tuple[int, list[tuple[str, bool]]]] = field(default_factory=list)  # (value, bad)
    errors: list[RowError] = field(default_factory=list)
    checked: int = 0
    more: bool = False  # rows beyond those checked


def preview_import(job: ImportJob, mapping: dict | None = None) -> Preview:
    """The first rows as the import would read them, and the errors of the first
    PREVIEW_CHECK_ROWS rows (the import itself checks them all)."""
    mapping = {c: t for c, t in (job.mapping if mapping is None else mapping).items() if t}
    custom_fields = {f.name: f for f in CustomField.objects.all()}
    labels = dict(targets(list(custom_fields.values())))
    with open_upload(job) as binary:
        fmt = _format(job)
        text = reading.open_text(binary, fmt)
        try:
            return _preview(job, mapping, custom_fields, labels, reading.records(text, fmt))
        finally:
            text.detach()


def _preview(job, mapping, custom_fields, labels, records) -> Preview:
    columns: list[str] | None = None
    preview: Preview | None = None
    try:
        for number, cells in records:
            if reading.is_blank(cells):
                continue
            if columns is None:
                columns = reading.column_names(cells)
                mapping = {c: t for c, t in mapping.items() if c in columns and t in labels}
                parser = RowParser(
                    columns=columns,
                    mapping=mapping,
                    source=job.source,
                    campaign=job.campaign,
                    custom_fields=custom_fields,
                )
                mapped = [c for c in columns if c in mapping]
                preview = Preview(
                    columns=columns, headings=[(c, labels[mapping[c]]) for c in mapped]
                )
                continue
            if preview.checked >= PREVIEW_CHECK_ROWS:
                preview.more = True
                break
            preview.checked += 1
            parsed = parser.parse(number, cells)
            preview.errors.extend(parsed.errors)
            if len(preview.rows) < PREVIEW_ROWS:
                by_column = dict(zip(columns, cells, strict=False))
                bad = {error.column for error in parsed.errors}
                shown = [
                    (_display(parsed, mapping[c], by_column.get(c, "")), c in bad)
                    for c, _ in preview.headings
                ]
                preview.rows.append((number, shown))
    except ImportFileError as exc:
        if preview is None:
            raise
        preview.errors.append(RowError(exc.row or 0, None, exc.message))
    if preview is None:
        raise ImportFileError("The file is empty.")
    return preview


def _display(parsed, target: str, raw: str) -> str:
    if parsed.errors and any(e.column is None for e in parsed.errors):
        return raw.strip()
    if target.startswith("custom."):
        value = (parsed.values.get("custom") or {}).get(target.removeprefix("custom."))
    elif target == "campaign":
        value = raw.strip() if parsed.values.get("campaign_id") else None
    else:
        value = parsed.values.get(target)
    if value is None:
        return raw.strip() if raw.strip() and parsed.errors else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- the run -----------------------------------------------------------------------


class _Progress:
    """Writes progress through a connection of its own (autocommit), so pages see it
    while the import's single transaction is still open."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)

    def set(self, **values) -> None:
        columns = ", ".join(f"{name} = %s" for name in values)
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE leads_importjob SET {columns} WHERE id = %s",  # noqa: S608
                [*values.values(), self.job_id],
            )

    def close(self) -> None:
        self.connection.close()


def run_import(*, job_id: int, now: datetime) -> ImportJob | None:
    """Run a pending job: every row imported, or none (status `failed` with the errors).

    Safe to call twice or concurrently: a PostgreSQL advisory lock held by the
    import's transaction lets one run at a time (None for the others, and for a job
    deleted meanwhile), and a job that is no longer pending or running (a cancelled one
    has failed) is left alone. A run that crashed rolled
    back entirely and released the lock, so calling this again redoes it.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job_id & 0x7FFFFFFF]
            )
            (locked,) = cursor.fetchone()
        if not locked:
            return None
        job = ImportJob.objects.select_related("campaign").filter(pk=job_id).first()
        if job is None:  # deleted after its task was queued
            return None
        if job.status not in (Status.PENDING, Status.RUNNING):
            return job
        progress = _Progress(job.pk)
        try:
            progress.set(status=Status.RUNNING, started_at=now, rows_processed=0)
            try:
                with transaction.atomic():
                    total, created, updated, skipped = _import(job, progress, now)
            except ImportFailed as failed:
                _finish_failed(job, failed, now)
            except ImportFileError as exc:
                _finish_failed(job, ImportFailed([RowError(exc.row, None, exc.message)]), now)
            except LeadFlowError as exc:  # e.g. the file was removed
                _finish_failed(job, ImportFailed([RowError(None, None, exc.message)]), now)
            except Exception:
                logger.exception("Import %s stopped by an unexpected error", job.pk)
                message = "The import stopped because of an unexpected error; nothing was imported."
                _finish_failed(job, ImportFailed([RowError(None, None, message)]), now)
            else:
                job.status = Status.DONE
                job.rows_total = job.rows_processed = total
                job.rows_imported = total - len(skipped)
                job.rows_created, job.rows_updated = created, updated
                # A done job's errors are the rows it skipped (people erased before).
                job.errors = [error.as_dict() for error in skipped[:MAX_STORED_ERRORS]]
                job.started_at = job.started_at or now
                job.finished_at = now
                job.save()
                if skipped:  # the upload keeps no row of a person erased before
                    rows = {error.row for error in skipped}
                    files.blank_rows(job, lambda number, _: number in rows)
                hooks.announce("leads_changed_in_bulk", lead_ids=None, import_id=job.pk, now=now)
        finally:
            progress.close()
    return job


def _finish_failed(job: ImportJob, failed: ImportFailed, now: datetime) -> None:
    errors = [error.as_dict() for error in failed.errors[:MAX_STORED_ERRORS]]
    if failed.total > len(errors):
        rest = failed.total - len(errors)
        errors.append({"row": None, "column": None, "message": f"… and {rest:,} more errors."})
    job.status = Status.FAILED
    job.errors = errors
    job.rows_imported = job.rows_created = job.rows_updated = 0
    job.started_at = job.started_at or now
    job.finished_at = now
    job.save()


def _import(
    job: ImportJob, progress: _Progress, now: datetime
) -> tuple[int, int, int, list[RowError]]:
    with open_upload(job) as binary:
        total = _count_rows(binary, _format(job))
        if total == 0:
            raise ImportFileError("The file has no data rows: there is nothing to import.")
        job.rows_total = total
        progress.set(rows_total=total)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TEMP_TABLES)}")
            merge.create_staging(cursor)
            skipped = _stage_rows(job, binary, cursor.cursor, progress)
    progress.set(rows_processed=total)
    with connection.cursor() as cursor:
        conflicts = merge.match_rows(cursor, now=now, limit=MAX_STORED_ERRORS)
        if conflicts:
            raise ImportFailed([RowError(c.rows[0], None, c.message) for c in conflicts])
        merge.drop_held_identities(cursor)
        by_id = job.created_by_id
        try:
            with transaction.atomic():
                created = merge.insert_new_leads(cursor, job_id=job.pk, by_id=by_id, now=now)
                updated = merge.fill_existing_leads(cursor, job_id=job.pk, by_id=by_id, now=now)
        except IntegrityError as exc:
            raise ImportFailed(_identity_errors(cursor, exc)) from None
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TEMP_TABLES)}")
    return total, created, updated, skipped


_TEMP_TABLES = (
    merge.STAGING,
    "import_groups",
    "import_groups_multi",
    "import_new",
    "import_fill",
    "import_fill_multi",
    "import_changes",
    "import_known",
    "import_ids",
    "import_match",
)


def _count_rows(binary, fmt: CsvFormat) -> int:
    """Data rows (not blank ones); a malformed file fails here, before anything is staged."""
    text = reading.open_text(binary, fmt)
    try:
        rows = (cells for _, cells in reading.records(text, fmt) if not reading.is_blank(cells))
        return max(sum(1 for _ in rows) - 1, 0)
    finally:
        text.detach()
        binary.seek(0)


def _stage_rows(job: ImportJob, binary, raw_cursor, progress: _Progress) -> list[RowError]:
    """Parse and check every row, COPYing the good ones; ImportFailed with all errors.
    Returns the rows skipped: those of people erased at their request (an old list must
    not bring them back)."""
    fmt = _format(job)
    erased_hashes = set(ErasedEmail.objects.values_list("email_hash", flat=True))
    erasures: dict[str, Erasure] = {}
    skipped: list[RowError] = []
    text = reading.open_text(binary, fmt)
    writer = merge.StagingWriter(raw_cursor)
    errors: list[RowError] = []
    error_count = 0
    done = 0
    last_report = time.monotonic()
    parser = None
    try:
        for number, cells in reading.records(text, fmt):
            if reading.is_blank(cells):
                continue
            if parser is None:
                columns = reading.column_names(cells)
                parser = RowParser(
                    columns=columns,
                    mapping=check_mapping(job.mapping, columns),
                    source=job.source,
                    campaign=job.campaign,
                )
                continue
            parsed = parser.parse(number, cells)
            if parsed.errors:
                error_count += len(parsed.errors)
                errors.extend(parsed.errors[: MAX_STORED_ERRORS - len(errors)])
            elif erased_hashes and _erased(parsed, erased_hashes):
                erasure = erasures.get(parsed.values["email"])
                if erasure is None:
                    erasure = erasures[parsed.values["email"]] = erased.erasure_of(
                        parsed.values["email"]
                    )
                skipped.append(RowError(number, "email", erased.skip_message(erasure)))
            elif not error_count:
                writer.add(number, parsed.staged())
            done += 1
            if done % PROGRESS_EVERY_ROWS == 0 and time.monotonic() - last_report > 0.5:
                progress.set(rows_processed=done)
                last_report = time.monotonic()
    except LeadFlowError as exc:
        if isinstance(exc, ImportFileError):
            raise
        raise ImportFailed([RowError(None, None, exc.message)]) from None
    finally:
        text.detach()
    if error_count:
        raise ImportFailed(errors, total=error_count)
    writer.flush()
    return skipped


def _erased(parsed, hashes: set[str]) -> bool:
    email = parsed.values.get("email")
    return bool(email) and erased.email_hash(email) in hashes


_DUPLICATE_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=\((?P<values>.*)\) already exists")


def _identity_errors(cursor, exc: IntegrityError) -> list[RowError]:
    """Row errors for a unique identity that two leads would share."""
    detail = getattr(getattr(exc.__cause__, "diag", None), "message_detail", "") or ""
    found = _DUPLICATE_KEY.search(detail)
    if found and found["columns"] == "email":
        value, column, label = found["values"], "email", "Email address"
    elif found and found["columns"] == "source, external_id":
        value, column, label = found["values"].split(", ", 1)[-1], "external_id", "External id"
    else:
        return [RowError(None, None, f"The leads could not be saved: {exc}")]
    rows = merge.rows_with(cursor, column, [value], limit=10)
    message = (
        f"{label} {value!r} would belong to two leads (rows {', '.join(map(str, rows))}, or "
        "a lead that already has it); give these rows one identity or remove one."
    )
    return [RowError(rows[0] if rows else None, None, message)]
