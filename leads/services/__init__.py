"""Every change of a lead's state: one function per transition, one module per subject.

Pages, API views, tasks, commands and tests all call these; none writes a lead with
`.save()` and a rule of its own beside it.

- `identity`: the capture spec — identity matching, fillable fields, field checks
- `capture`: create or fill the lead a set of values identifies (API, forms, imports)
- `edits`: field edits (audited), custom field definitions, consent
- `stages`: the stage machine — every funnel move, one lead or many
- `ownership`: who may own a lead, who may give leads to whom, and assigning them
- `timeline`: touches, behavioural events, the activity of other apps
- `campaigns`, `merges`, `webforms`, `saved_views`, `imports` (a package): their own
  subjects
- `audit`, `bulk`: the field audit and set-based targeting shared by the above
"""

from leads.services.campaigns import bulk_set_campaign, create_campaign
from leads.services.capture import CaptureResult, capture_lead
from leads.services.edits import EDITABLE_FIELDS, define_custom_field, record_consent, update_lead
from leads.services.identity import FILLABLE_FIELDS
from leads.services.ownership import assign_owner, bulk_assign_owner
from leads.services.stages import bulk_move_stage, move_stage
from leads.services.timeline import (
    FUTURE_TOLERANCE_SECONDS,
    HUMAN_TOUCHES,
    EventResult,
    log_touch,
    record_activity,
    record_event,
    record_events,
)

__all__ = [
    "EDITABLE_FIELDS",
    "FILLABLE_FIELDS",
    "FUTURE_TOLERANCE_SECONDS",
    "HUMAN_TOUCHES",
    "CaptureResult",
    "EventResult",
    "assign_owner",
    "bulk_assign_owner",
    "bulk_move_stage",
    "bulk_set_campaign",
    "capture_lead",
    "create_campaign",
    "define_custom_field",
    "log_touch",
    "move_stage",
    "record_activity",
    "record_consent",
    "record_event",
    "record_events",
    "update_lead",
]
