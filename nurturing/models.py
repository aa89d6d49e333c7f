"""Nurturing's data: templates, tracks of steps, the rules that enrol leads in them, each
lead's enrolment, and the outbox of emails (one row per enrolment and step, written
before the email leaves).

The database is the schedule: an enrolment stores when its step is next due
(`Enrolment.due_at`) and an outbox row when it may next be sent (`Send.not_before`);
no Celery ETA holds either. See nurturing/services/ for the transitions.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Deferrable, Q
from django.utils import timezone

from leads.models import Campaign, Lead


class Template(models.Model):
    """An email: subject, HTML and plain-text bodies with merge fields
    (`{{ first_name|default:"there" }}`), checked to compile when saved
    (nurturing.services.templates)."""

    name = models.CharField(max_length=200, unique=True)
    subject = models.CharField(max_length=300)
    html = models.TextField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Track(models.Model):
    """An ordered list of steps a lead walks through, one at a time."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=False)  # enrols leads only while active
    # Where a recycled lead (back to nurturing) goes when no enrolment rule chooses.
    recycle = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["recycle"], condition=Q(recycle=True), name="one_recycle_track"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    """One step of a track. An enrolment points at its step by identity, so a track in
    use can be reordered and edited without moving anyone to another step."""

    class Kind(models.TextChoices):
        WAIT = "wait", "Wait"
        EMAIL = "email", "Send email"
        BRANCH = "branch", "Branch"
        EXIT = "exit", "Exit"

    class Unit(models.TextChoices):
        HOURS = "hours", "hours"
        DAYS = "days", "days"

    class Test(models.TextChoices):
        OPENED = "opened", "opened the previous email"
        CLICKED = "clicked", "clicked in the previous email"
        ENGAGEMENT = "engagement", "engagement is at least"
        GRADE = "grade", "grade is at least"
        EVENT = "event", "did this since enrolling"

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # wait
    amount = models.PositiveIntegerField(null=True, blank=True)
    unit = models.CharField(max_length=8, choices=Unit.choices, blank=True)
    business_days = models.BooleanField(default=False)
    # email
    template = models.ForeignKey(
        Template, null=True, blank=True, on_delete=models.PROTECT, related_name="steps"
    )
    # branch: test → then_step, else else_step (None: the next step in order)
    test = models.CharField(max_length=12, choices=Test.choices, blank=True)
    within_days = models.PositiveIntegerField(null=True, blank=True)  # opened / clicked
    min_engagement = models.PositiveIntegerField(null=True, blank=True)
    min_grade = models.CharField(max_length=1, blank=True)
    event_type = models.CharField(max_length=32, blank=True)
    then_step = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    else_step = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["track", "position"]
        constraints = [
            # Deferred: a reorder swaps positions inside one transaction.
            models.UniqueConstraint(
                fields=["track", "position"],
                name="step_position_unique",
                deferrable=Deferrable.DEFERRED,
            )
        ]

    def __str__(self) -> str:
        return f"{self.track_id}#{self.position} {self.kind}"


class EnrolmentRule(models.Model):
    """Which track a lead enters: by source channel, campaign and/or a condition on lead
    and custom fields (scoring's condition language). Rules are tried in `position`
    order; the first that matches wins."""

    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=32, blank=True)  # empty: any source
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    condition = models.JSONField(null=True, blank=True)  # scoring.conditions
    consent_required = models.BooleanField(default=True)  # enrol only consenting leads
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Enrolment(models.Model):
    """A lead's walk through one track. At most one active enrolment per lead (a
    database constraint); `step` is the step to run next, at `due_at`."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        EXITED = "exited", "Exited"
        COMPLETED = "completed", "Completed"

    class Exit(models.TextChoices):
        MQL = "mql", "Became MQL"
        HANDOFF = "handoff", "Handed off"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"
        DISQUALIFIED = "disqualified", "Disqualified"
        CONSENT = "consent", "Consent withdrawn or denied"
        EXIT_STEP = "exit_step", "Reached an exit step"
        COMPLETED = "completed", "Finished the track"
        MANUAL = "manual", "Removed by hand"
        MERGED = "merged", "Merged into another lead"
        ERASED = "erased", "Erased at their request"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrolments")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="enrolments")
    rule = models.ForeignKey(
        EnrolmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.PROTECT, related_name="enrolments"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    enrolled_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=16, choices=Exit.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status="active"),
                name="one_active_enrolment_per_lead",
            )
        ]
        indexes = [
            # The dispatcher's claim: active enrolments due, oldest first.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(status="active"),
                name="enrolment_due_idx",
            ),
            models.Index(fields=["track", "status"], name="enrolment_track_idx"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in {self.track_id} ({self.status})"


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@leadflow>"


class Send(models.Model):
    """The outbox: one email of one step of one enrolment, written before it leaves and
    kept as its record. `message_id` is fixed when the row is written, so a retry after a
    crash carries the same Message-ID."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # waits for `not_before` (deferred when set later)
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # gave up after MAX_TRIES temporary failures
        SKIPPED = "skipped", "Not sent"  # at send time: no consent, suppressed, left

    class Deferral(models.TextChoices):
        CAP = "cap", "frequency cap"
        HOURS = "hours", "outside business hours"
        TOUCH = "touch", "a rep touched the lead recently"
        RETRY = "retry", "temporary SMTP failure"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="sends")
    step = models.ForeignKey(Step, null=True, on_delete=models.SET_NULL, related_name="sends")
    # The step's identity at writing, kept when the step is deleted (unique per enrolment).
    step_key = models.PositiveIntegerField()
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sends")
    track = models.ForeignKey(Track, on_delete=models.PROTECT, related_name="sends")
    template = models.ForeignKey(
        Template, null=True, on_delete=models.SET_NULL, related_name="sends"
    )
    message_id = models.CharField(max_length=100, unique=True, default=new_message_id)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    not_before = models.DateTimeField()
    deferred = models.CharField(max_length=8, choices=Deferral.choices, blank=True)
    deferrals = models.PositiveIntegerField(default=0)  # times it was put off
    capped = models.BooleanField(default=False)  # ever deferred by the frequency cap
    tries = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=100, blank=True)
    to_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Its "email sent" entry is on the lead's timeline: written for a send batch's sent
    # rows at the end of the batch, and by the sweep for those a killed worker left.
    on_timeline = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "step_key"], name="one_send_per_step")
        ]
        indexes = [
            # What the sweep hands to workers: queued rows due.
            models.Index(
                fields=["not_before", "id"],
                condition=Q(status="queued"),
                name="send_due_idx",
            ),
            # The frequency cap: a lead's emails sent in the last days.
            models.Index(
                fields=["lead", "sent_at"], condition=Q(status="sent"), name="send_lead_sent_idx"
            ),
            models.Index(fields=["track", "step", "status"], name="send_track_step_idx"),
            # The sweep: sent rows whose timeline entry a killed worker did not write.
            models.Index(
                fields=["sent_at", "id"],
                condition=Q(status="sent", on_timeline=False),
                name="send_untimelined_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} ({self.status})"


class Suppression(models.Model):
    """An address no marketing email goes to: unsubscribed, hard-bounced, complained.
    Kept by address (lower-cased), so it holds across leads, merges and re-imports."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        HARD_BOUNCE = "hard_bounce", "Hard bounce"
        SOFT_BOUNCES = "soft_bounces", "Repeated soft bounces"
        COMPLAINT = "complaint", "Complaint"

    email = models.EmailField(unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"


class SoftBounce(models.Model):
    """A soft bounce of one message; repeated ones count as a hard bounce."""

    email = models.EmailField()
    message_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["email", "created_at"], name="softbounce_email_idx")]

    def __str__(self) -> str:
        return f"soft bounce of {self.email}"
