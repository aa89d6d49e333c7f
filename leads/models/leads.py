"""Leads: the people LeadFlow captures, their funnel stage history and timeline.

Identity is guarded by the database: a normalised email is unique, an external id
is unique per source, and a lead must have at least one of email, phone or
external id.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When
from django.db.models.functions import Coalesce, Concat, Lower
from django.utils import timezone

from leads.models.choices import ConsentStatus, Source, Stage
from leads.models.imports import ImportJob
from leads.models.organisation import Campaign

# What the lead list's search looks in (leads.filters: filter_search).
SEARCH_FIELDS = ("first_name", "last_name", "email", "company", "phone", "external_id")
# Punctuation splits words (the text parser alone keeps "ada@uni.edu" and "uni.edu" whole,
# so "uni" would not find them): "SF-0042" holds the words sf and 0042.
SEARCH_SPLIT = "[[:punct:][:space:][:cntrl:]]+"


def search_document() -> Func:
    """The words of a lead's SEARCH_FIELDS as one text-search document ('simple': no
    stemming, no stop words): what the generated column `Lead.search_words` holds."""
    fields = [
        F(name) if name in _NOT_NULL else Coalesce(F(name), Value("")) for name in SEARCH_FIELDS
    ]
    # Keyword arguments in the order migration 0016 holds them (sorted by name): the
    # autodetector compares them in order and would see another index otherwise.
    text = Func(*fields, arg_joiner=" || ' ' || ", output_field=models.TextField(),
                template="(%(expressions)s)")  # fmt: skip
    words = Func(text, Value(SEARCH_SPLIT), Value(" "), Value("g"), function="regexp_replace",
                 output_field=models.TextField())  # fmt: skip
    return Func(Value("simple"), words, function="to_tsvector", output_field=SearchVectorField())


_NOT_NULL = {"first_name", "last_name", "company"}
# A lead without a predictive score sorts below every score (0-100).
PREDICTIVE_SORT_KEY = Coalesce(F("predictive_score"), Value(-1))


# Text sorts put blanks last in both directions: each is a single key (keyset pagination
# pages on the first ordering field). Ascending, a "0" before every value and "1" for a
# blank; descending (ordered by the key DESC), "1" before every value and "0" for a
# blank. Either way in any collation. The lead list sorts by these (leads.filters) and
# each has its index on the same expression (Lead.Meta).
def _name():
    return Concat(Lower("last_name"), Value(" "), Lower("first_name"))


def _blanks_last(key, blank: Q, *, descending: bool = False):
    blank_mark, value_mark = ("0", "1") if descending else ("1", "0")
    return Case(When(blank, then=Value(blank_mark)), default=Concat(Value(value_mark), key),
                output_field=models.CharField())  # fmt: skip


_NO_NAME = Q(last_name="", first_name="")
TEXT_SORT_KEYS: dict[str, Callable] = {
    "sort_name": lambda: _blanks_last(_name(), _NO_NAME),
    "sort_name_desc": lambda: _blanks_last(_name(), _NO_NAME, descending=True),
    "sort_company": lambda: _blanks_last(Lower("company"), Q(company="")),
    "sort_company_desc": lambda: _blanks_last(Lower("company"), Q(company=""), descending=True),
}


class Lead(models.Model):
    # Identity: at least one of these three (see the lead_has_identity constraint).
    # NULL, not "", for "none": the unique constraints must ignore absent identities.
    email = models.EmailField(null=True, blank=True)  # noqa: DJ001 - normalised: trimmed, lower-cased
    phone = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001 - E.164
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    company_domain = models.CharField(max_length=253, blank=True)
    website = models.CharField(max_length=200, blank=True)
    company_size = models.PositiveIntegerField(null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True)  # ISO 3166-1 alpha-2
    time_zone = models.CharField(max_length=64, blank=True)

    source = models.CharField(max_length=32, choices=Source.choices, default=Source.OTHER)
    # Attribution: the first campaign that brought the lead in, and the latest one.
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    latest_campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="latest_leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NEW)
    # Written by `handoff` only (leads.services.stages.set_in_handoff): the lead is routed
    # to a rep, so automatic rules (scoring) leave its stage alone.
    in_handoff = models.BooleanField(default=False)

    # BANT
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    authority = models.BooleanField(null=True, blank=True)
    need = models.CharField(max_length=200, blank=True)
    timeline = models.CharField(max_length=100, blank=True)

    consent_status = models.CharField(
        max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN
    )
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_method = models.CharField(max_length=100, blank=True)

    # Written by `scoring` only; stored here so lists can filter and sort on them.
    fit = models.IntegerField(default=0)
    engagement = models.FloatField(default=0)
    score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)  # when scoring last looked
    # The predictive model's P(converts) as 0-100 (scoring.services.predictive): an open
    # lead's while a model is active, else null.
    predictive_score = models.SmallIntegerField(null=True, blank=True)

    converted = models.BooleanField(null=True, blank=True)  # a known historical outcome
    custom = models.JSONField(default=dict, blank=True)
    # Set when this lead was merged into another: it is then hidden everywhere, its
    # identity moved to the LeadMerge record (so unmerging can bring it back).
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_leads"
    )
    import_job = models.ForeignKey(  # the import that created this lead, if any
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    # Fields a person set or cleared by hand: a later capture never refills them.
    human_edited = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # Set when the person was erased at their request (leads.services.erasure): the row
    # stays, anonymised, so its stage history keeps the funnel's counts; it is hidden
    # everywhere and no process (scoring, nurturing, routing, the stage machine) takes it.
    erased_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_sales_touch_at = models.DateTimeField(null=True, blank=True)
    # The list's search looks here (leads.selectors.search). PostgreSQL computes it on
    # every insert and update of the searched fields (GENERATED ... STORED), so every
    # writer (capture, the import's SQL, edits, merges, erasure) keeps it right; writers
    # of their own SQL leave it out of their column lists (`field.generated`).
    search_words = models.GeneratedField(
        expression=search_document(), output_field=SearchVectorField(), db_persist=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email"], condition=Q(email__isnull=False), name="lead_email_unique"
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="lead_source_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=False)
                | Q(phone__isnull=False)
                | Q(external_id__isnull=False)
                | Q(merged_into__isnull=False)
                | Q(erased_at__isnull=False),
                name="lead_has_identity",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | Q(email=Lower("email")),
                name="lead_email_normalised",
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="lead_stage_valid"),
        ]
        indexes = [
            # Sorting by score (either way, keyset-paged; migration 0017). A lead whose
            # score a rescoring changes gets a new entry in every index (no HOT update);
            # one whose score stays is still updated in place (the fillfactor, 45).
            models.Index(fields=["score", "id"], name="lead_score_idx"),
            # Sorting by predictive score, highest first (leads.filters: SORT_KEYS), with
            # the unscored last: the very expression the sort orders by.
            models.Index(PREDICTIVE_SORT_KEY, "id", name="lead_predictive_idx"),
            # Sorting by name and by company, either way, blanks last (TEXT_SORT_KEYS): a
            # page reads its rows in order instead of sorting the whole list (2 s at a
            # million leads), and a search matching many leads walks the list in it.
            *(
                models.Index(key(), "id", name=f"lead_{name}_idx")
                for name, key in TEXT_SORT_KEYS.items()
            ),
            # Newest-first keyset pagination of lists.
            models.Index(fields=["-created_at", "-id"], name="lead_created_idx"),
            models.Index(fields=["stage", "-created_at"], name="lead_stage_created_idx"),
            models.Index(fields=["owner", "-created_at"], name="lead_owner_created_idx"),
            models.Index(fields=["phone"], name="lead_phone_idx"),
            # Duplicate suggestions look each new lead up by these (leads.selectors).
            models.Index(
                Lower("first_name"), Lower("last_name"), "company_domain", name="lead_name_idx"
            ),
            models.Index(
                Func(F("email"), Value("@"), Value(1), function="split_part"),
                Lower("last_name"),
                name="lead_email_local_idx",
            ),
            # The list's search, for the few leads a rare word finds (migration 0021). A
            # stored column, not an index on the expression: testing a lead's words while
            # walking the list in its order, or in a sample, reads them instead of
            # computing them again (a tenth of the time). Rescoring, which changes none
            # of the searched fields, stays HOT.
            GinIndex(fields=["search_words"], name="lead_search_words_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        if self.erased_at is not None:
            return f"Erased lead {self.pk}"
        return self.full_name or self.email or self.phone or self.external_id or f"Lead {self.pk}"


class StageChange(models.Model):
    """One funnel transition. Funnel, velocity and aging are computed from these rows."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)  # "" = created
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(fields=["lead", "changed_at"], name="stagechange_lead_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="stagechange_to_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '∅'} → {self.to_stage}"


class Activity(models.Model):
    """One entry of a lead's timeline: a behavioural event, a human touch or a system record."""

    class Kind(models.TextChoices):
        # Behavioural events (public contract: the event types of the events API).
        PAGE_VIEW = "page_view", "Page view"
        PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
        CONTENT_DOWNLOAD = "content_download", "Content download"
        WEBINAR_REGISTERED = "webinar_registered", "Webinar registered"
        WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
        FORM_SUBMIT = "form_submit", "Form submit"
        EMAIL_OPEN = "email_open", "Email open"
        EMAIL_CLICK = "email_click", "Email click"
        DEMO_REQUEST = "demo_request", "Demo request"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
        BOUNCE = "bounce", "Bounce"
        # Human touches.
        NOTE = "note", "Note"
        CALL = "call", "Call"
        EMAIL = "email", "Email"
        MEETING = "meeting", "Meeting"
        # System records.
        CAPTURED = "captured", "Captured"
        ASSIGNED = "assigned", "Assigned"
        MERGED = "merged", "Merged"
        UNMERGED = "unmerged", "Merge undone"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - event idempotency key
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "key"], condition=Q(key__isnull=False), name="activity_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["lead", "-occurred_at"], name="activity_lead_idx")]

    def __str__(self) -> str:
        return f"{self.label} on lead {self.lead_id}"

    @property
    def label(self) -> str:
        """The kind's label, also for kinds other apps register (leads.services.timeline)."""
        return ACTIVITY_LABELS.get(self.kind, self.kind)


# Every timeline entry kind with its label: these, plus what higher apps register.
ACTIVITY_LABELS: dict[str, str] = dict(Activity.Kind.choices)
# How the entries of a registered kind read, from their data (leads.services.timeline).
ACTIVITY_TITLES: dict[str, Callable[[dict], str]] = {}


EVENT_TYPES = (
    Activity.Kind.PAGE_VIEW,
    Activity.Kind.PRICING_PAGE_VIEW,
    Activity.Kind.CONTENT_DOWNLOAD,
    Activity.Kind.WEBINAR_REGISTERED,
    Activity.Kind.WEBINAR_ATTENDED,
    Activity.Kind.FORM_SUBMIT,
    Activity.Kind.EMAIL_OPEN,
    Activity.Kind.EMAIL_CLICK,
    Activity.Kind.DEMO_REQUEST,
    Activity.Kind.UNSUBSCRIBE,
    Activity.Kind.BOUNCE,
)


class FieldChange(models.Model):
    """Audit: which field of a lead changed from what to what, when, by whom or through what."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="field_changes")
    field = models.CharField(max_length=64)  # a model field, or custom.<name>
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=32)  # "edit", or the capture channel
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="field_changes"
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["lead", "-changed_at"], name="fieldchange_lead_idx")]

    def __str__(self) -> str:
        return f"{self.lead_id}.{self.field}"
