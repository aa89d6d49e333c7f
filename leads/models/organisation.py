"""Who sells and what brings leads in: sales teams and campaigns."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leads.models.choices import Source


class Team(models.Model):
    """A sales team: managers see the leads its members own."""

    name = models.CharField(max_length=100, unique=True)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="managed_teams", blank=True
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=32, choices=Source.choices, default=Source.OTHER)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_on", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost__gte=0),
                name="campaign_cost_not_negative",
                violation_error_message="The cost cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(starts_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
                violation_error_message="A campaign cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
