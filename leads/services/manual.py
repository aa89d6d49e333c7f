"""Manual entry: a lead a person types in the browser (the rep who takes a call, the
marketer back from a meeting), captured like any other on the `manual` channel.

`enter_lead` is `capture_lead` with the person as author (the audit and the timeline say
who entered it), the owner rule of the New lead page, and one refusal: a person who
turns out to be a lead the user may not see is not touched, and the user is told only
that they are already known (`PersonKnown`), never whose lead it is. `known_person`
is the page's warning while the identities are typed: the same lookup capture runs,
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from leads import roles
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import Erasure, Lead
from leads.selectors import leads_visible_to
from leads.services import erased, identity
from leads.services.capture import CaptureResult, capture_lead
from leads.services.edits import consent_source
from leads.services.ownership import assignment_target, possible_owners

CHANNEL = "manual"
KNOWN = "This person is already known to LeadFlow."


class PersonKnown(IdentityConflict):
    """The identities typed belong to a lead the user may not see: nothing was saved."""


def may_enter_leads(user) -> bool:
    """Marketing, admins, managers and reps enter leads; anyone else does not."""
    return roles.sees_all_leads(user) or bool(
        roles.group_names(user) & {roles.SALES, roles.MANAGER}
    )


def owner_for(*, by, username: str = ""):
    """Who owns a lead `by` enters: the chosen owner (marketing, admins and managers, by
    the ownership rule); none chosen, marketing's lead has no owner and a manager's is
    their own (else it would leave their view at once) — a rep's new lead is their own."""
    if not may_enter_leads(by):
        raise PermissionDenied("Only marketing and sales enter leads.")
    if username and roles.can_assign(by):
        return assignment_target(by=by, username=username)
    if roles.sees_all_leads(by):
        return None
    if not possible_owners().filter(pk=by.pk).exists():
        raise LeadFlowError("You cannot own leads, so you cannot enter one.", field="owner")
    return by


def enter_lead(
    *, data: dict[str, Any], owner=None, consent_how: str = "", by, now: datetime
) -> CaptureResult:
    """Capture the lead `by` typed (`data`: the capture's validated values; `owner` from
    `owner_for`; `consent_how`: how the consent was given, in the person's words).
    A new lead gets the owner; an existing one the user may see is filled as any capture
    fills it; one the user may not see raises PersonKnown. All or nothing."""
    data = dict(data)
    if owner is not None:
        data["owner"] = owner  # a new lead's; capture never changes an existing owner
    how = consent_how.strip()
    method = consent_source(CHANNEL, by)
    with transaction.atomic():
        result = capture_lead(
            data=data, by=by, channel=CHANNEL, now=now,
            consent_method=f"{how} ({method})" if how else method,
        )  # fmt: skip
        if not result.created and not leads_visible_to(by).filter(pk=result.lead.pk).exists():
            raise PersonKnown(KNOWN)  # rolls the capture back
    return result


@dataclass(frozen=True)
class Known:
    """What the New lead page may say of typed identities: the lead (when the user may
    see it) or only that the person is known; and an earlier erasure (marketing)."""

    lead: Lead | None = None
    hidden: bool = False
    erasure: Erasure | None = None


def known_person(*, values: dict[str, Any], user) -> Known:
    """The lead capture would take for `values` (normalised identities and source),
    told as the user may know it."""
    try:
        found = identity.find_lead(values, lock=False) if identity.has_identity(values) else None
    except IdentityConflict:
        return Known(hidden=True)  # an external id of a lead with another email
    # The visibility query runs either way: the answer takes as long whoever the lead is.
    visible = leads_visible_to(user).filter(pk=found.pk if found else 0).exists()
    if found is not None:
        return Known(lead=found) if visible else Known(hidden=True)
    if roles.sees_all_leads(user):
        return Known(erasure=erased.erasure_of(values.get("email")))
    return Known()
