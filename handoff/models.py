"""Handoff's data: each team's working calendar and SLA policy, each rep's capacity,
the routing rules, the handoffs themselves and the notifications they raise.

Deadlines (and the instants of the 50 % and 80 % warnings) are computed on the team's
calendar when a handoff is made or accepted, and stored: editing a calendar changes
later handoffs, never history, and the SLA scan is plain indexed comparisons.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from leads.models import Lead, Team


class TeamPolicy(models.Model):
    """A team's working calendar (leadflow.business_time) and its SLA policy."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="policy"
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    # Per weekday (Monday first), a list of ["09:00", "17:00"] intervals, local time.
    hours = models.JSONField(default=list, blank=True)  # empty: weekdays 09:00-17:00
    country = models.CharField(max_length=2, blank=True)  # public holidays of
    subdivision = models.CharField(max_length=10, blank=True)
    closed_days = ArrayField(models.DateField(), default=list, blank=True)
    accept_hours = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    contact_hours = models.DecimalField(max_digits=6, decimal_places=2, default=2)
    grace_hours = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    # Route only to reps whose team is open now (else the handoff waits in the queue).
    route_in_hours_only = models.BooleanField(default=False)
    fallback = models.BooleanField(default=False)  # takes the MQLs no rule claims

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["fallback"], condition=Q(fallback=True), name="one_fallback_team"
            )
        ]

    def __str__(self) -> str:
        return f"policy of team {self.team_id}"


class RepSettings(models.Model):
    """A rep's routing settings: most open handoffs at once, a weight, active or not,
    away from/until (dates, the team's local days)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="routing"
    )
    capacity = models.PositiveIntegerField(default=10)
    weight = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    away_from = models.DateField(null=True, blank=True)
    away_until = models.DateField(null=True, blank=True)  # inclusive

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=1), name="rep_weight_positive"),
            models.CheckConstraint(
                condition=Q(away_until__isnull=True)
                | Q(away_from__isnull=True)
                | Q(away_until__gte=models.F("away_from")),
                name="rep_away_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"routing of {self.user_id}"


class Rotation(models.Model):
    """The smooth weighted round robin's running weight of one rep in one team (its
    rows are locked while routing to the team, so routing is one at a time per team)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    current = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "rep"], name="rotation_unique")]

    def __str__(self) -> str:
        return f"rotation {self.team_id}/{self.rep_id}: {self.current}"


class AssignmentRule(models.Model):
    """An MQL matching `condition` (scoring's condition language) goes to `team`; rules
    are tried in `position` order, the fallback team takes the rest."""

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    condition = models.JSONField()
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="assignment_rules")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Handoff(models.Model):
    """One MQL handed to one named rep (or waiting in its team's queue, `rep` None) under
    the team's SLA. At most one open (pending or accepted) handoff per lead."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        CLOSED = "closed", "Closed"

    class Reason(models.TextChoices):
        BAD_FIT = "bad_fit", "Bad fit"
        NOT_READY = "not_ready", "Not ready"
        CANT_REACH = "cant_reach", "Can't reach"
        DUPLICATE = "duplicate", "Duplicate"
        WRONG_TERRITORY = "wrong_territory", "Wrong territory"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handoffs")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="handoffs")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handoffs",
    )
    rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decision = models.JSONField(default=dict, blank=True)  # why this team and rep
    created_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)  # to the current rep
    accept_by = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)  # the next warning (50 %, 80 %)
    warnings = models.PositiveSmallIntegerField(default=0)  # warnings given for the deadline
    accepted_at = models.DateTimeField(null=True, blank=True)
    contact_by = models.DateTimeField(null=True, blank=True)
    contacted_at = models.DateTimeField(null=True, blank=True)
    accept_breached_at = models.DateTimeField(null=True, blank=True)
    contact_breached_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)  # breach + grace, if pending
    escalations = models.PositiveIntegerField(default=0)
    # Business time (the team calendar) from the handoff to its acceptance, and from the
    # acceptance to the first contact: written when each happens, summed by dashboards.
    accept_business_seconds = models.BigIntegerField(null=True, blank=True)
    contact_business_seconds = models.BigIntegerField(null=True, blank=True)
    breaches = models.PositiveIntegerField(default=0)  # deadlines missed, ever
    reject_reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    expected_close = models.DateField(null=True, blank=True)
    lost_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["accept_by", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(status__in=["pending", "accepted"]),
                name="one_open_handoff_per_lead",
            )
        ]
        indexes = [
            # The SLA scan: each deadline, over open handoffs only.
            models.Index(
                fields=["accept_by"],
                condition=Q(status="pending", accept_breached_at__isnull=True),
                name="handoff_accept_due_idx",
            ),
            models.Index(
                fields=["contact_by"],
                condition=Q(
                    status="accepted", contacted_at__isnull=True, contact_breached_at__isnull=True
                ),
                name="handoff_contact_due_idx",
            ),
            models.Index(
                fields=["warn_at"], condition=Q(warn_at__isnull=False), name="handoff_warn_idx"
            ),
            models.Index(
                fields=["escalate_at"],
                condition=Q(status="pending", escalate_at__isnull=False),
                name="handoff_escalate_idx",
            ),
            models.Index(fields=["rep", "status"], name="handoff_rep_status_idx"),
            models.Index(fields=["team", "status"], name="handoff_team_status_idx"),
        ]

    def __str__(self) -> str:
        return f"handoff {self.pk} of lead {self.lead_id} ({self.status})"

    @property
    def breached(self) -> bool:
        return self.breaches > 0


class Notification(models.Model):
    """An in-app notice for one user (a breach, a warning, a reassignment)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    handoff = models.ForeignKey(Handoff, null=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]
        constraints = [
            # A notice is given once per handoff, kind and user (a scan run twice adds none).
            models.UniqueConstraint(fields=["user", "handoff", "kind"], name="notification_once")
        ]

    def __str__(self) -> str:
        return self.text
