"""Handoff's pages: the rep's inbox (accept, reject with a reason, log contact, record
the outcome) and the manager's team board (queue, breaches, at risk, reassign, reps'
capacity, weights and away dates, the calendar and SLA policy). Every action is a
service call (handoff.services.actions); a refusal is the page's message."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from handoff import selectors
from handoff.models import Handoff, RepSettings, TeamPolicy
from handoff.services import actions
from leads import roles
from leads.models import Team
from leads.views.errors import domain_errors


def _sales(user) -> bool:
    return bool(roles.group_names(user) & {roles.SALES, roles.MANAGER}) or roles.sees_all_leads(
        user
    )


@login_required
def inbox(request):
    if not _sales(request.user):
        raise PermissionDenied("The inbox is for sales reps and managers.")
    teams = (
        Team.objects.filter(managers=request.user)
        if not roles.sees_all_leads(request.user)
        else Team.objects.all()
    )
    return render(
        request,
        "handoff/inbox.html",
        {
            **selectors.inbox(request.user, timezone.now()),
            **selectors.notifications(request.user),
            "reasons": Handoff.Reason.choices,
            "kinds": actions.CONTACT_KINDS,
            "managed": teams.order_by("name"),
        },
    )


@require_POST
@login_required
def read_notifications(request):
    count = actions.mark_notifications_read(user=request.user, now=timezone.now())
    messages.success(request, f"Marked {count} notice{'s' if count != 1 else ''} read.")
    return redirect("handoff:inbox")


@require_POST
@login_required
def act(request, pk: int, action: str):
    now, post, by = timezone.now(), request.POST, request.user
    # Back to the page the form was on (a path of this site only), else the inbox.
    back = post.get("next", "")
    back = back if back.startswith("/") and not back.startswith("//") else "/handoffs/"
    with domain_errors(request):
        try:
            if action == "accept":
                actions.accept_handoff(handoff_id=pk, by=by, now=now)
                messages.success(request, "Accepted: the lead is yours (SAL).")
            elif action == "reject":
                actions.reject_handoff(
                    handoff_id=pk,
                    reason=post.get("reason", ""),
                    note=post.get("note", ""),
                    by=by,
                    now=now,
                )
                messages.success(request, "Rejected; marketing sees the reason.")
            elif action == "contact":
                actions.log_contact(
                    handoff_id=pk,
                    kind=post.get("kind", ""),
                    note=post.get("note", ""),
                    by=by,
                    now=now,
                )
                messages.success(request, "Contact logged.")
            elif action == "outcome":
                actions.record_outcome(
                    handoff_id=pk,
                    stage=post.get("stage", ""),
                    amount=post.get("amount") or None,
                    reason=post.get("reason", ""),
                    by=by,
                    now=now,
                )
                messages.success(request, "Outcome recorded.")
            elif action == "reassign":
                to = get_user_model().objects.filter(username=post.get("rep", "")).first()
                done = actions.reassign_handoff(handoff_id=pk, by=by, now=now, to=to)
                who = done.rep.get_full_name() or done.rep.username if done.rep else "the queue"
                messages.success(request, f"Reassigned to {who}.")
            else:
                raise Http404("No such action.")
        except Handoff.DoesNotExist:
            raise Http404("No such handoff.") from None
    return redirect(back)


def _managed(request, team_id: int) -> Team:
    team = get_object_or_404(Team, pk=team_id)
    if not (
        roles.sees_all_leads(request.user) or team.managers.filter(pk=request.user.pk).exists()
    ):
        raise PermissionDenied("Only the team's manager sees its board.")
    return team


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


@login_required
def team_board(request, team_id: int):
    team = _managed(request, team_id)
    policy = TeamPolicy.objects.filter(team=team).first() or TeamPolicy(team=team)
    members = list(team.members.order_by("username"))
    settings = {s.user_id: s for s in RepSettings.objects.filter(user__in=members)}
    if request.method == "POST":
        with domain_errors(request):
            _save_board(request, team, policy, members)
            messages.success(request, "Saved.")
            return redirect("handoff:team", team_id=team.pk)
    reps = [(m, settings.get(m.pk) or RepSettings(user=m)) for m in members]
    return render(
        request,
        "handoff/team.html",
        {
            "team": team,
            "policy": policy,
            "reps": reps,
            **selectors.team_board(team, timezone.now()),
        },
    )


def _save_board(request, team, policy, members) -> None:
    from decimal import Decimal, InvalidOperation

    from leadflow import business_time
    from leads.exceptions import LeadFlowError

    post = request.POST
    try:
        for name in ("accept_hours", "contact_hours", "grace_hours"):
            value = Decimal(post.get(name, "") or getattr(policy, name))
            if not Decimal("0.25") <= value <= Decimal("720"):
                raise LeadFlowError("SLA hours run from 0.25 to 720.", field=name)
            setattr(policy, name, value)
    except InvalidOperation:
        raise LeadFlowError(
            "Enter the SLA hours as numbers, e.g. 1.5.", field="accept_hours"
        ) from None
    policy.time_zone = post.get("time_zone", policy.time_zone).strip() or "UTC"
    policy.country = post.get("country", policy.country).strip().upper()[:2]
    policy.route_in_hours_only = post.get("route_in_hours_only") == "on"
    try:
        business_time.Calendar(time_zone=policy.time_zone, country=policy.country)
    except ValueError as exc:
        raise LeadFlowError(str(exc), field="time_zone") from None
    policy.team = team
    policy.save()
    for member in members:
        prefix = f"rep-{member.pk}-"
        if prefix + "capacity" not in post:
            continue
        try:
            capacity, weight = int(post[prefix + "capacity"]), int(post[prefix + "weight"])
            away_from, away_until = (
                _date(post.get(prefix + "away_from", "")),
                _date(post.get(prefix + "away_until", "")),
            )
        except ValueError:
            raise LeadFlowError(
                f"Check {member.username}'s numbers and dates.", field="reps"
            ) from None
        if not (0 <= capacity <= 10_000 and 1 <= weight <= 100):
            raise LeadFlowError("Capacity runs 0–10,000 and weight 1–100.", field="reps")
        if away_from and away_until and away_until < away_from:
            raise LeadFlowError(f"{member.username}: away until is before away from.", field="reps")
        RepSettings.objects.update_or_create(
            user=member,
            defaults={
                "capacity": capacity,
                "weight": weight,
                "active": post.get(prefix + "active") == "on",
                "away_from": away_from,
                "away_until": away_until,
            },
        )
