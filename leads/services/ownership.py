"""Who owns a lead, and who may give leads to whom: the one rule, and the two moves.

- An owner is an active user in the `sales` or `manager` group (`possible_owners`).
- Marketing and admins give any lead to any owner.
- A manager gives only leads they can see (`leads_visible_to`), and only to members or
  managers of the teams they manage: any other owner would take the lead out of their
  sight (`assignable_owners`).
- A sales rep (or anyone else) assigns nothing.
- The system (`by=None`: routing, demo data, tests) gives any lead to any owner.

`assign_owner` and `bulk_assign_owner` enforce it: a refused assignment raises (the
role: PermissionDenied; the owner or the lead: LeadFlowError) and changes nothing. Each
announces `owner_changed` with the leads that changed hands.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from leads import hooks, roles
from leads.exceptions import LeadFlowError
from leads.idsets import listed
from leads.models import Activity, Lead
from leads.selectors import leads_visible_to, visible_among
from leads.services.bulk import target_ids

NO_OWNER = "Choose an owner; nothing was changed."


def possible_owners() -> QuerySet:
    """Everyone who may own a lead: active sales reps and managers, by username."""
    return (
        get_user_model()
        .objects.filter(groups__name__in=[roles.SALES, roles.MANAGER], is_active=True)
        .distinct()
        .order_by("username")
    )


def assignable_owners(by) -> QuerySet:
    """The owners `by` may give leads to (none for a rep or anyone else)."""
    owners = possible_owners()
    if roles.sees_all_leads(by):
        return owners
    if roles.MANAGER in roles.group_names(by):
        return owners.filter(Q(teams__managers=by) | Q(managed_teams__managers=by))
    return owners.none()


def assignment_target(*, by, username: str):
    """The owner called `username` if `by` may give leads to them; else a refusal
    (PermissionDenied for a role that assigns nothing, else a LeadFlowError)."""
    _check_role(by)
    owner = _allowed(by).filter(username=username).first() if username else None
    if owner is None:
        _refuse(get_user_model().objects.filter(username=username).first(), username)
    return owner


def _check(by, owner) -> None:
    """Refuse (raise) unless `by` may give leads to `owner`."""
    _check_role(by)
    if owner is None or not _allowed(by).filter(pk=owner.pk).exists():
        _refuse(owner, getattr(owner, "username", ""))


def _check_role(by) -> None:
    if by is not None and not roles.can_assign(by):
        raise PermissionDenied("Only marketing, managers and admins assign leads.")


def _allowed(by) -> QuerySet:
    return possible_owners() if by is None else assignable_owners(by)


def _refuse(owner, name: str):
    """Raise why leads may not go to `owner` (the user found under `name`, if any)."""
    if not name:
        raise LeadFlowError(NO_OWNER, field="owner")
    if owner is None or not possible_owners().filter(pk=owner.pk).exists():
        message = f"{name!r} is not an active sales rep or manager"
    else:
        message = f"{name} is not in a team you manage: the leads would leave your view"
    raise LeadFlowError(f"{message}; nothing was changed.", field="owner")


def assign_owner(*, lead_id: int, owner, by=None, now: datetime) -> Lead:
    """Give a lead to `owner` if `by` may (see the module) and note it on the timeline;
    a refusal raises and changes nothing."""
    _check(by, owner)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if by is not None and not leads_visible_to(by).filter(pk=lead_id).exists():
            raise LeadFlowError("You cannot see this lead; nothing was changed.", field="lead")
        previous = lead.owner_id
        if previous == owner.pk:
            return lead
        lead.owner = owner
        lead.save(update_fields=["owner", "updated_at"])
        Activity.objects.create(
            lead=lead,
            kind=Activity.Kind.ASSIGNED,
            occurred_at=now,
            user=by,
            data={"owner": owner.username, "previous_owner_id": previous},
        )
        hooks.announce("owner_changed", lead_ids=[lead.pk], owner_id=owner.pk, now=now)
    return lead


def bulk_assign_owner(*, owner, by, now: datetime, leads=None, lead_ids=None) -> int:
    """Give every lead of `leads` (a queryset: a selection or a whole filter) or of
    `lead_ids` (a list of ids, however many) that `by` may see to `owner`, if `by` may
    give leads to them (a refusal raises and changes nothing); one statement, each change
    on the lead's timeline. Returns how many leads changed hands.

    The statement names the leads by id (a queryset is read for its ids first:
    `leads.services.bulk.target_ids`), so its plan does not depend on what `leads_lead`'s
    statistics say."""
    _check(by, owner)
    if (leads is None) == (lead_ids is None):
        raise ValueError("bulk_assign_owner takes either `leads` or `lead_ids`")
    if lead_ids is not None and by is None:
        ids = list(lead_ids)  # the statement skips those already theirs
    else:
        if lead_ids is not None:
            leads = Lead.objects.filter(pk__in=list(lead_ids))
        ids = target_ids(leads if by is None else visible_among(leads, by), Q(owner_id=owner.pk))
    if not ids:
        return 0
    sql = f"""
        WITH changed AS (
            UPDATE leads_lead SET owner_id = %s, updated_at = %s
            WHERE {listed("id")} AND owner_id IS DISTINCT FROM %s RETURNING id
        )
        INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, data, created_at)
        SELECT id, %s, %s, %s, %s::jsonb, %s FROM changed
        RETURNING lead_id
    """  # noqa: S608
    data = json.dumps({"owner": owner.username})
    args = [owner.pk, now, ids, owner.pk, Activity.Kind.ASSIGNED, now, getattr(by, "pk", None),
            data, now]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, args)
        ids = sorted(row[0] for row in cursor.fetchall())
        if ids:
            hooks.announce("owner_changed", lead_ids=ids, owner_id=owner.pk, now=now)
    return len(ids)
