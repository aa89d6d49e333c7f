"""Scoring: versioned scoring models, ranked events, score history, rescoring runs.

Scores themselves live on the lead row (Lead.fit / engagement / score / grade) so
lists can filter and sort on them; this app is the only writer.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ScoringModel(models.Model):
    """One version of the lead definition: fit, engagement and negative rules, grade
    bands, the MQL rule and disqualification rules (see scoring.rules for the shape).

    Editing never changes a version: it saves a new one, which becomes the active one.
    """

    version = models.PositiveIntegerField(unique=True)
    is_active = models.BooleanField(default=False)
    definition = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_scoring_model"
            )
        ]

    def __str__(self) -> str:
        return f"Scoring model v{self.version}"


class ScoredEvent(models.Model):
    """A behavioural event as scoring counts it: its 30-day bucket (days since the epoch
    // 30) and its rank among its lead's events of the same type in that bucket, in
    (occurred_at, id) order.

    A rank depends on no scoring model: an event's points are its type's points under
    the active model, capped by rank (scoring.services), so a model change never
    recomputes ranks, and the points are the same whatever order events arrived in.
    """

    activity_id = models.BigIntegerField(primary_key=True)  # leads.Activity, same lifetime
    lead_id = models.BigIntegerField(db_index=False)
    event_type = models.CharField(max_length=32)
    bucket = models.IntegerField()
    occurred_at = models.DateTimeField()
    rank = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["lead_id", "event_type", "bucket"], name="scoredevent_lead_idx")
        ]

    def __str__(self) -> str:
        return f"activity {self.activity_id}: #{self.rank} of its type in bucket {self.bucket}"


class ScorePoint(models.Model):
    """A lead's score at a moment, kept whenever it changed meaningfully (for the chart)."""

    lead_id = models.BigIntegerField()
    at = models.DateTimeField()
    fit = models.IntegerField()
    engagement = models.FloatField()
    score = models.IntegerField()
    grade = models.CharField(max_length=1, blank=True)
    model_version = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead_id", "at"], name="scorepoint_lead_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.score}/{self.grade} at {self.at:%Y-%m-%d}"


class RescoreRun(models.Model):
    """A rescoring of every lead (after a model change, or the hourly decay), with its
    progress.

    Whoever runs it holds a lease (`lease_until`, renewed after every batch); a run
    whose lease passed lost its worker, and the scoring tick hands it to another one,
    which goes on from the spans not yet done (`spans_done`). `claims` numbers the
    workers that took it up, so one that was given up on cannot write over the next.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        MODEL_CHANGE = "model_change", "Model change"
        DECAY = "decay", "Hourly decay"

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MODEL_CHANGE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    leads_total = models.PositiveIntegerField(default=0)
    leads_done = models.PositiveIntegerField(default=0)
    became_mql = models.PositiveIntegerField(default=0)
    left_mql = models.PositiveIntegerField(default=0)
    disqualified = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Running: until when its worker holds it; pending: by when a worker should have
    # taken it up (else its message is sent again). Null once it ended.
    lease_until = models.DateTimeField(null=True, blank=True)
    claims = models.PositiveIntegerField(default=0)
    workers_lost = models.PositiveIntegerField(default=0)
    # The lead ids it walks (fixed when first started, so a resumption walks the same
    # spans) and the first id of each span already rescored.
    span_low = models.BigIntegerField(null=True, blank=True)
    span_high = models.BigIntegerField(null=True, blank=True)
    spans_done = ArrayField(models.BigIntegerField(), default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status__in=["pending", "running"]),
                name="rescorerun_lease_idx",
            )
        ]

    def __str__(self) -> str:
        return f"rescore for v{self.model.version}: {self.status}"


class PredictiveModel(models.Model):
    """A model of P(converts) learned from outcomes (scoring.services.predictive), with
    its honest evaluation on held-out outcomes beside the rule score's.

    Every training that had enough outcomes leaves one, active or not: one that did not
    beat the rule score on the held-out leads is kept to be shown, never activated. The
    fitted scikit-learn pipeline is stored in the row (`fitted`, joblib), not on a disk:
    every worker on every machine scores with the same model.
    """

    is_active = models.BooleanField(default=False)
    trained_at = models.DateTimeField()
    outcomes = models.PositiveIntegerField()  # leads with a known outcome it learned from
    positives = models.PositiveIntegerField()  # of them, converted
    held_out = models.PositiveIntegerField()  # of them, kept aside to evaluate it
    split = models.CharField(max_length=12)  # "time" or "stratified"
    auc = models.FloatField(null=True)  # the model's ROC AUC on the held-out leads
    rule_auc = models.FloatField(null=True)  # the rule score's, on the same leads
    brier = models.FloatField(null=True)
    # Reliability bins on the held-out leads: low, high, predicted, observed, count.
    calibration = models.JSONField(default=list)
    # Learned effects, strongest first: feature (in words), weight (log-odds), odds.
    factors = models.JSONField(default=list)
    # The columns it reads (scoring.predictive.features.Spec) and those it ignored.
    spec = models.JSONField(default=dict)
    ignored = models.JSONField(default=list)
    # Where the rules' points and the outcomes disagree most (scoring.predictive.suggestions).
    suggestions = models.JSONField(default=list)
    fitted = models.BinaryField()
    note = models.CharField(max_length=300, blank=True)  # why it is not active, if not

    class Meta:
        ordering = ["-trained_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_predictive"
            )
        ]

    def __str__(self) -> str:
        return f"predictive model {self.pk} ({'active' if self.is_active else 'inactive'})"


class TrainingRun(models.Model):
    """One training of the predictive model (on a schedule, or asked for), with progress.

    At most one is pending or running at a time (a partial unique index): asking again
    meanwhile gets the one under way. A worker claims it with a conditional UPDATE
    (pending → running) and holds a lease it renews at every step; a run whose lease
    passed lost its worker and the tick marks it failed, so the next one may start.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Training"
        DONE = "done", "Done"
        REFUSED = "refused", "Not enough outcomes"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    step = models.CharField(max_length=200, blank=True)  # what it is doing, in words
    message = models.TextField(blank=True)  # the outcome in words (why refused, failed)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model = models.ForeignKey(
        PredictiveModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status__in=["pending", "running"]),
                name="one_training_at_a_time",
            )
        ]

    def __str__(self) -> str:
        return f"training run {self.pk}: {self.status}"

    @property
    def under_way(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)
