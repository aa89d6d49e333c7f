"""The dashboards' own tables: per-visit facts and daily (and monthly) rollups, kept exact by the
rollup job (dashboards.services.rollup) from a watermark over the other apps' rows.

- `Visit`: one row per stage-history row (a lead's stay in a stage): when it began and
  ended, whether it was a re-entry or a backward move, and the lead's dimensions
  (source, campaign, team) as they are now. Time-in-stage percentiles read it.
- `StageDay`: entries into each stage per day and dimensions ("period" counting).
- `CohortDay`: per day of creation and dimensions, how many of the leads created that
  day ever reached each stage, and the won revenue ("cohort" counting). Stage
  `created` counts the leads themselves.
- `CohortEver`: CohortDay summed over all days and teams (what costs divide by).
- `TimeDay`: per day (of entry, or of the lead's creation: `counted_by`), stage,
  dimensions and duration bucket (dashboards.buckets), how many ended visits lasted that
  long. Time-in-stage percentiles sum these instead of sorting visits.
- `AgingLead`: the leads waiting untouched in MQL or SAL (the aging page's list).
- `HandoffFact`: one row per handoff (what the SLA, closed-loop and sources pages count
  of it), with its lead's source and campaign and the handoff's own team and rep, and
  who the timeline blames for its breaches and escalations. `HandoffDay`,
  `HandoffTimeDay`, `BlameDay` and `RejectionDay` sum them per day (of the handoff; of
  its rejection) and dimensions.
- Each rollup holds a row per day (`grain` "d") and per calendar month ("m", `day` its
  1st): a period reads the whole months inside it from month rows, the rest from days
  (filters.Filters.period_rows).
- `NurtureFact`: one row per nurture email and per enrolment left as MQL; `NurtureDay`
  sums them per day, track and step.
- `RollupState`: the watermarks (last id read of each source table), the ids still
  missing below them (rows of transactions not committed yet), and as of when.
"""

from __future__ import annotations

from django.db import models

# The funnel in order; `lost` and `disqualified` are exits, shown after it.
FUNNEL = ("new", "nurturing", "mql", "sal", "sql", "opportunity", "won")
EXITS = ("lost", "disqualified")
CREATED = "created"  # CohortDay's pseudo-stage: the leads created that day


class Visit(models.Model):
    # The stage-history row this visit began with (leads_stagechange.id).
    id = models.BigIntegerField(primary_key=True)
    lead_id = models.BigIntegerField()
    stage = models.CharField(max_length=16)
    from_stage = models.CharField(max_length=16, blank=True)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True)  # null: the lead is still in the stage
    seconds = models.BigIntegerField(null=True)  # left_at - entered_at, once it has ended
    entered_day = models.DateField()
    created_day = models.DateField()  # the lead's creation day (its cohort)
    reentry = models.BooleanField(default=False)  # the lead had been in this stage before
    backward = models.BooleanField(default=False)  # a move back along the funnel
    forward = models.BooleanField(default=False)  # the lead's next move went further on
    onward = models.BooleanField(default=False)  # the lead later reached a further stage
    source = models.CharField(max_length=32)
    campaign_id = models.BigIntegerField(default=0)  # 0: none
    team_id = models.BigIntegerField(default=0)  # the team of the lead's latest handoff
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)  # won: revenue
    # The furthest funnel stage (1: new … 7: won) the lead entered after this visit began.
    reached_later = models.SmallIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["lead_id"], name="dash_visit_lead_idx"),
            # Time in stage reads the ended visits of a stage and period from these alone.
            models.Index(
                fields=["stage", "entered_day"],
                include=["seconds", "source", "campaign_id", "team_id"],
                condition=models.Q(seconds__isnull=False),
                name="dash_visit_entered_idx",
            ),
            models.Index(
                fields=["stage", "created_day"],
                include=["seconds", "source", "campaign_id", "team_id"],
                condition=models.Q(seconds__isnull=False),
                name="dash_visit_cohort_idx",
            ),
            # The moves back into nurturing (the closed loop's recycled leads).
            models.Index(
                fields=["entered_day"],
                include=[
                    "lead_id",
                    "entered_at",
                    "source",
                    "campaign_id",
                    "team_id",
                    "reached_later",
                ],
                condition=models.Q(stage="nurturing", backward=True),
                name="dash_visit_recycled_idx",
            ),
            # The visits still going (one per lead): how long leads have waited.
            models.Index(
                fields=["stage", "entered_day"],
                include=["entered_at", "created_day", "source", "campaign_id", "team_id"],
                condition=models.Q(seconds__isnull=True),
                name="dash_visit_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"visit {self.id}: lead {self.lead_id} in {self.stage}"


class DayRollup(models.Model):
    """What every rollup is keyed by: its grain ("d": a day; "m": a calendar month, `day`
    its 1st), the day (of what, each rollup says) and the dimensions (source, campaign,
    team; 0: none)."""

    grain = models.CharField(max_length=1, default="d")
    day = models.DateField()
    source = models.CharField(max_length=32)
    campaign_id = models.BigIntegerField(default=0)
    team_id = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class StageDay(DayRollup):
    stage = models.CharField(max_length=16)
    entries = models.IntegerField(default=0)
    reentries = models.IntegerField(default=0)
    backward = models.IntegerField(default=0)
    forward = models.IntegerField(default=0)  # entries whose next move went further on
    waiting = models.IntegerField(default=0)  # entries still in the stage

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "stage", "source", "campaign_id", "team_id"],
                name="dash_stageday_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.stage}: {self.entries}"


class CohortDay(DayRollup):
    stage = models.CharField(max_length=16)
    leads = models.IntegerField(default=0)  # leads of the cohort that reached `stage`
    onward = models.IntegerField(default=0)  # of them, leads that later went further on
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)  # won revenue

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["grain", "day", "stage", "source", "campaign_id", "team_id"],
                name="dash_cohortday_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.stage}: {self.leads}"


class CohortEver(models.Model):
    """CohortDay over all days and teams: per stage, source and campaign, the leads ever
    created (stage `created`) or that ever reached the stage, and the won revenue."""

    stage = models.CharField(max_length=16)
    source = models.CharField(max_length=32)
    campaign_id = models.BigIntegerField(default=0)
    leads = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "source", "campaign_id"], name="dash_cohortever_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage} {self.source} {self.campaign_id}: {self.leads}"


class TimeDay(DayRollup):
    ENTERED, CREATED = "entered", "created"
    counted_by = models.CharField(max_length=8)  # `day` is the visit's entry or cohort day
    stage = models.CharField(max_length=16)
    bucket = models.SmallIntegerField()  # dashboards.buckets: the duration's bucket
    visits = models.IntegerField(default=0)  # ended visits of that duration

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["counted_by", "grain", "day", "stage", "source", "campaign_id",
                        "team_id", "bucket"],
                include=["visits"],
                name="dash_timeday_key",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.counted_by} {self.day} {self.stage} bucket {self.bucket}: {self.visits}"


class AgingLead(models.Model):
    """A lead waiting untouched in MQL or SAL: its open visit is of that stage (and it is
    in it now), it is not merged away, and no call, email or meeting was logged since it
    entered the stage. The aging page lists these (oldest first) and counts them."""

    lead_id = models.BigIntegerField(primary_key=True)
    stage = models.CharField(max_length=16)
    entered_at = models.DateTimeField()
    entered_day = models.DateField()
    source = models.CharField(max_length=32)  # the visit's dimensions, as on the funnel
    campaign_id = models.BigIntegerField(default=0)
    team_id = models.BigIntegerField(default=0)
    batch_kind = models.CharField(max_length=8)  # import, campaign, form or source
    batch_key = models.CharField(max_length=64)
    owner_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["entered_at", "lead_id"], name="dash_aging_order_idx"),
            models.Index(
                fields=["entered_day"],
                include=["entered_at", "stage", "source", "campaign_id", "team_id",
                         "batch_kind", "batch_key", "owner_id"],
                name="dash_aging_day_idx",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"lead {self.lead_id} waiting in {self.stage}"


DIMENSIONS = ["grain", "day", "source", "campaign_id", "team_id"]


class HandoffFact(models.Model):
    id = models.BigIntegerField(primary_key=True)  # handoff_handoff.id
    lead_id = models.BigIntegerField()
    day = models.DateField()  # the day it was made
    closed_day = models.DateField(null=True)
    source = models.CharField(max_length=32)  # the lead's
    campaign_id = models.BigIntegerField(default=0)  # the lead's (0: none)
    team_id = models.BigIntegerField()  # the handoff's team
    rep_id = models.BigIntegerField(default=0)  # who holds it now (0: the team queue)
    rejected = models.BooleanField(default=False)  # sales rejected it
    reason = models.CharField(max_length=16, blank=True)  # the reject reason code
    accepted = models.BooleanField(default=False)
    accepted_in_sla = models.BooleanField(default=False)
    contacted = models.BooleanField(default=False)
    contacted_in_sla = models.BooleanField(default=False)
    accept_seconds = models.BigIntegerField(null=True)  # business seconds to accept
    contact_seconds = models.BigIntegerField(null=True)  # business seconds to first contact
    breaches = models.IntegerField(default=0)
    escalations = models.IntegerField(default=0)
    # username ("" when nobody held it) → [breaches, escalations] from its timeline entries
    blame = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["lead_id"], name="dash_hfact_lead_idx")]

    def __str__(self) -> str:
        return f"handoff {self.id} of lead {self.lead_id}"


class HandoffDay(DayRollup):
    """HandoffFact summed per day the handoffs were made, dimensions and rep."""

    rep_id = models.BigIntegerField(default=0)
    handoffs = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    accepted_in_sla = models.IntegerField(default=0)
    contacted = models.IntegerField(default=0)
    contacted_in_sla = models.IntegerField(default=0)
    breaches = models.IntegerField(default=0)
    escalations = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=[*DIMENSIONS, "rep_id"], name="dash_handoffday_key")
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.handoffs} handoffs"


class HandoffTimeDay(DayRollup):
    """Time to accept and to first contact, per day made, in duration buckets."""

    ACCEPT, CONTACT = "accept", "contact"
    rep_id = models.BigIntegerField(default=0)
    what = models.CharField(max_length=8)  # time to accept, or to first contact
    bucket = models.SmallIntegerField()  # dashboards.buckets
    handoffs = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*DIMENSIONS, "rep_id", "what", "bucket"], name="dash_handofftime_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.what} bucket {self.bucket}: {self.handoffs}"


class BlameDay(DayRollup):
    """Breaches and escalations per rep blamed, by the day the handoffs were made."""

    username = models.CharField(max_length=150)  # "": the queue
    breaches = models.IntegerField(default=0)
    escalations = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=[*DIMENSIONS, "username"], name="dash_blameday_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.username}: {self.breaches}"


class RejectionDay(DayRollup):
    """Handoffs sales rejected, per day of the rejection and reason."""

    reason = models.CharField(max_length=16)
    handoffs = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=[*DIMENSIONS, "reason"], name="dash_rejectionday_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.reason}: {self.handoffs}"


class NurtureFact(models.Model):
    """A nurture email (`sends` 1: what became of it) or an enrolment that ended because
    its lead became MQL (`mql` 1, at the step of the last email it was sent), with the
    lead's dimensions as on the funnel; NurtureDay sums them per day (the send's
    writing, the enrolment's end), track and step."""

    lead_id = models.BigIntegerField()
    day = models.DateField()
    track_id = models.BigIntegerField()
    step_id = models.BigIntegerField()  # 0: a step since deleted; -1: before any email
    source = models.CharField(max_length=32)
    campaign_id = models.BigIntegerField(default=0)
    team_id = models.BigIntegerField(default=0)
    sends = models.SmallIntegerField(default=0)
    sent = models.SmallIntegerField(default=0)
    opened = models.SmallIntegerField(default=0)
    clicked = models.SmallIntegerField(default=0)
    unsubscribed = models.SmallIntegerField(default=0)
    bounced = models.SmallIntegerField(default=0)
    capped = models.SmallIntegerField(default=0)
    mql = models.SmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["lead_id"], name="dash_nfact_lead_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} track {self.track_id} step {self.step_id}"


NURTURE_COUNTS = ("sends", "sent", "opened", "clicked", "unsubscribed", "bounced", "capped",
                  "mql")  # fmt: skip


class NurtureDay(DayRollup):
    """NurtureFact summed per day, dimensions, track and step."""

    track_id = models.BigIntegerField()
    step_id = models.BigIntegerField()
    sends = models.IntegerField(default=0)
    sent = models.IntegerField(default=0)
    opened = models.IntegerField(default=0)
    clicked = models.IntegerField(default=0)
    unsubscribed = models.IntegerField(default=0)
    bounced = models.IntegerField(default=0)
    capped = models.IntegerField(default=0)
    mql = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*DIMENSIONS, "track_id", "step_id"], name="dash_nurtureday_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} track {self.track_id} step {self.step_id}: {self.sent}"


class RollupState(models.Model):
    name = models.CharField(max_length=32, unique=True)
    watermarks = models.JSONField(default=dict)  # source table → last id read
    missing = models.JSONField(default=dict)  # source table → {id: first seen missing, ISO}
    as_of = models.DateTimeField(null=True)  # the data is complete up to this instant
    ran_at = models.DateTimeField(null=True)
    leads = models.IntegerField(default=0)  # leads recomputed by the last run

    def __str__(self) -> str:
        return f"{self.name} as of {self.as_of}"
