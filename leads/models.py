"""Leads: the people LeadFlow captures, their funnel stage history and timeline.

Identity is guarded by the database: a normalised email is unique, an external id
is unique per source, and a lead must have at least one of email, phone or
external id.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Lower
from django.utils import timezone


class Stage(models.TextChoices):
    """The funnel (public contract v1): values never change."""

    NEW = "new", "New"
    NURTURING = "nurturing", "Nurturing"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"


class Source(models.TextChoices):
    """The channel a lead (or a campaign) came through."""

    WEB_FORM = "web_form", "Web form"
    TRADE_SHOW = "trade_show", "Trade show"
    WEBINAR = "webinar", "Webinar"
    CONTENT_SYNDICATION = "content_syndication", "Content syndication"
    PURCHASED_LIST = "purchased_list", "Purchased list"
    REFERRAL = "referral", "Referral"
    PAID_SEARCH = "paid_search", "Paid search"
    ORGANIC = "organic", "Organic"
    OTHER = "other", "Other"


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"


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


class ImportJob(models.Model):
    """One CSV import: the uploaded file, its column mapping, progress and outcome.

    Leads it created point back to it (Lead.import_job) and the fields it filled on
    existing leads are audit rows with this job (FieldChange.import_job): that is
    what undoing an import reverts.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        UNDONE = "undone", "Undone"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    mapping = models.JSONField(default=dict, blank=True)  # column header → lead field
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.OTHER)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row", "column", "message"}]
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.original_name})"


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

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_sales_touch_at = models.DateTimeField(null=True, blank=True)

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
                | Q(merged_into__isnull=False),
                name="lead_has_identity",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=True) | Q(email=Lower("email")),
                name="lead_email_normalised",
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="lead_stage_valid"),
        ]
        indexes = [
            # No index on the scores: rescoring rewrites them for every lead, and with no
            # indexed column changing PostgreSQL updates rows in place (HOT, see the
            # table's fillfactor, 45), which keeps a million-lead rescoring fast.
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
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        return self.full_name or self.email or self.phone or self.external_id or f"Lead {self.pk}"


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


class LeadMerge(models.Model):
    """One merge of `merged` into `survivor`, with what is needed to undo it exactly."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_kept")
    merged = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_absorbed")
    merged_at = models.DateTimeField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Field values before the merge: the survivor's changed fields, the merged lead's all.
    survivor_before = models.JSONField(default=dict)
    merged_before = models.JSONField(default=dict)
    # Rows moved from the merged lead to the survivor: {"activity": [ids], ...}.
    moved = models.JSONField(default=dict)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"lead {self.merged_id} into {self.survivor_id}"


class NotDuplicate(models.Model):
    """A pair of leads a person said are different people: never suggested again."""

    lead_a = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    lead_b = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead_a", "lead_b"], name="notduplicate_pair_unique"),
            models.CheckConstraint(
                condition=Q(lead_a__lt=models.F("lead_b")), name="notduplicate_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_a_id} ≠ {self.lead_b_id}"


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
        return f"{self.get_kind_display()} on lead {self.lead_id}"


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
