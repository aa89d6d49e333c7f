"""What marketing and users configure: custom fields, web forms, saved list views."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leads.models.choices import Source
from leads.models.organisation import Campaign


class CustomField(models.Model):
    """A lead field that marketing defines; values live in Lead.custom under `name`."""

    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        CHOICE = "choice", "Choice"
        BOOL = "bool", "Yes/no"
        DATE = "date", "Date"

    name = models.CharField(
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*$",
                "Use lower-case letters, digits and underscores, starting with a letter.",
            )
        ],
    )
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices)
    choices = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(type="choice", choices__len__gt=0)
                | (~Q(type="choice") & Q(choices=[])),
                name="customfield_choices_only_for_choice",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class LeadForm(models.Model):
    """A web-to-lead form marketing embeds on any site; it posts to /f/<slug>/."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Lead JSON field names or custom.<name>, in the order the form shows them.
    fields = ArrayField(models.CharField(max_length=64), default=list)
    required = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.WEB_FORM)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="forms"
    )
    consent_text = models.CharField(max_length=500, blank=True)
    redirect_url = models.URLField(blank=True)  # the thank-you page; empty: LeadFlow's own
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A user's named lead-list filter (the list page's query string)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_lead_views"
    )
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="savedview_user_name_unique")
        ]

    def __str__(self) -> str:
        return self.name
