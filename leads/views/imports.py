"""Import pages: upload → mapping → preview → import (progress, outcome) → undo; the list;
cancelling a pending import and deleting a pending or failed one (each after a
confirmation page).

Only marketing (and admins) import; everyone else gets a 403.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles
from leads.exceptions import LeadFlowError
from leads.models import Campaign, ImportJob, Source
from leads.services import imports
from leads.views.errors import domain_errors

SKIP = ""
PENDING, FAILED, DONE = ImportJob.Status.PENDING, ImportJob.Status.FAILED, ImportJob.Status.DONE


def _job(request, pk: int) -> ImportJob:
    return get_object_or_404(imports.imports_visible_to(request.user), pk=pk)


def _editable(job: ImportJob) -> bool:
    """Its mapping can still change: pending and not queued for a worker, or failed."""
    return job.status == FAILED or (job.status == PENDING and not imports.is_queued(job))


def _back(job: ImportJob, exc: LeadFlowError):
    """After a refusal: back to the mapping, or to the job once its file is gone."""
    return redirect("imports:detail" if exc.field == "file" else "imports:mapping", pk=job.pk)


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8 or Latin-1, comma or semicolon.")
    source = forms.ChoiceField(choices=Source.choices, initial=Source.OTHER)
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"),
        to_field_name="code",
        required=False,
        empty_label="No campaign",
    )


@roles.marketing_required
def import_list(request):
    jobs = list(imports.imports_visible_to(request.user)[:100])
    for job in jobs:
        job.queued = imports.is_queued(job)
    return render(request, "leads/imports/list.html", {"jobs": jobs})


@roles.marketing_required
def import_new(request):
    limit = settings.IMPORT_MAX_BYTES
    if request.method == "POST":
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 1024 * 1024:
            form = UploadForm()
            form.add_error(None, f"The file is larger than {filesizeformat(limit)}.")
            return render(request, "leads/imports/new.html", {"form": form, "limit": limit})
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            with domain_errors(request, message=False) as outcome:
                job = imports.create_import_job(
                    upload=form.cleaned_data["file"],
                    source=form.cleaned_data["source"],
                    campaign=form.cleaned_data["campaign"],
                    by=request.user,
                    now=timezone.now(),
                    start=False,
                )
                return redirect("imports:mapping", pk=job.pk)
            error = outcome.error
            form.add_error("file" if error.field == "file" else None, error.message)
    else:
        form = UploadForm()
    return render(request, "leads/imports/new.html", {"form": form, "limit": limit})


@roles.marketing_required
def import_mapping(request, pk: int):
    job = _job(request, pk)
    if not _editable(job):
        return redirect("imports:detail", pk=job.pk)
    with domain_errors(request) as outcome:
        columns = imports.file_columns(job)
        samples = imports.column_samples(job)
    if outcome.refused:  # the file is gone: nothing to map
        return redirect("imports:detail", pk=job.pk)
    mapping = dict(job.mapping)
    error = None
    if request.method == "POST":
        mapping = {
            column: request.POST.get(f"col-{index}", SKIP) for index, column in enumerate(columns)
        }
        with domain_errors(request, message=False) as outcome:
            imports.set_mapping(job_id=job.pk, mapping=mapping, by=request.user, now=timezone.now())
            return redirect("imports:preview", pk=job.pk)
        error = outcome.error.message
    return render(
        request,
        "leads/imports/mapping.html",
        {
            "job": job,
            "columns": [
                (index, column, mapping.get(column, SKIP), samples.get(column, []))
                for index, column in enumerate(columns)
            ],
            "targets": imports.targets(),
            "error": error,
        },
    )


@roles.marketing_required
def import_preview(request, pk: int):
    job = _job(request, pk)
    if not _editable(job):
        return redirect("imports:detail", pk=job.pk)
    with domain_errors(request) as outcome:
        preview = imports.preview_import(job)
    if outcome.refused:
        return _back(job, outcome.error)
    return render(
        request,
        "leads/imports/preview.html",
        {"job": job, "preview": preview},
    )


@roles.marketing_required
@require_POST
def import_start(request, pk: int):
    job = _job(request, pk)
    with domain_errors(request) as outcome:
        imports.start_import(job_id=job.pk, by=request.user, now=timezone.now())
    if outcome.refused:
        return _back(job, outcome.error)
    return redirect("imports:detail", pk=job.pk)


@roles.marketing_required
def import_detail(request, pk: int):
    job = _job(request, pk)
    context = {
        "job": job,
        "queued": imports.is_queued(job),
        "errors": job.errors[:200],
        "more_errors": max(len(job.errors) - 200, 0),
    }
    if request.htmx:
        return render(request, "leads/imports/detail.html#progress", context)
    return render(request, "leads/imports/detail.html", context)


def _confirmed(request, job: ImportJob, change, *, template, allowed, done, after=None):
    """A change the person confirms first: GET shows the confirmation page (its form when
    the job's status is `allowed`), POST makes the change (a refusal becomes the page's
    message) and goes back to the job, or to `after` once the job is gone."""
    if request.method != "POST":
        context = {"job": job, "queued": imports.is_queued(job), "allowed": job.status in allowed}
        return render(request, template, context)
    with domain_errors(request) as outcome:
        change(job_id=job.pk, by=request.user, now=timezone.now())
        messages.success(request, done)
    if outcome.refused or after is None:
        return redirect("imports:detail", pk=job.pk)
    return redirect(after)


@roles.marketing_required
def import_undo(request, pk: int):
    job = _job(request, pk)
    done = f"Import {job.pk} was undone."
    return _confirmed(
        request, job, imports.undo_import, template="leads/imports/undo.html", allowed=[DONE],
        done=done,
    )  # fmt: skip


@roles.marketing_required
def import_cancel(request, pk: int):
    job = _job(request, pk)
    done = f"Import {job.pk} was cancelled; nothing was imported."
    return _confirmed(
        request, job, imports.cancel_import, template="leads/imports/cancel.html",
        allowed=[PENDING], done=done,
    )  # fmt: skip


@roles.marketing_required
def import_delete(request, pk: int):
    job = _job(request, pk)
    done = f"Import {job.pk} ({job.original_name}) was deleted."
    return _confirmed(
        request, job, imports.delete_import, template="leads/imports/delete.html",
        allowed=[PENDING, FAILED], done=done, after="imports:list",
    )  # fmt: skip
