"""Leads' data: one module per subject, every model importable from `leads.models`.

- `choices`: stages (the funnel, public contract), sources, consent statuses
- `organisation`: teams and campaigns
- `leads`: the lead, its stage history, its timeline (activities) and field audit
- `merges`: merges, the identities they leave pointing at the survivor (aliases),
  not-duplicate decisions
- `configuration`: custom fields, web forms, saved views
- `imports`: CSV import jobs
- `erasure`: erasures of people at their request and their emails' keyed hashes
"""

from leads.models.choices import ConsentStatus, Source, Stage
from leads.models.configuration import CustomField, LeadForm, SavedView
from leads.models.erasure import ErasedEmail, Erasure
from leads.models.imports import ImportJob
from leads.models.leads import EVENT_TYPES, Activity, FieldChange, Lead, StageChange
from leads.models.merges import DuplicateReport, LeadAlias, LeadMerge, NotDuplicate
from leads.models.organisation import Campaign, Team

__all__ = [
    "EVENT_TYPES",
    "Activity",
    "Campaign",
    "ConsentStatus",
    "CustomField",
    "DuplicateReport",
    "ErasedEmail",
    "Erasure",
    "FieldChange",
    "ImportJob",
    "Lead",
    "LeadAlias",
    "LeadForm",
    "LeadMerge",
    "NotDuplicate",
    "SavedView",
    "Source",
    "Stage",
    "StageChange",
    "Team",
]
