"""Handoff's pages: the rep's inbox (accept, reject with a reason, log contact, record
the outcome) and the manager's team board (queue, breaches, at risk, reassign, reps'
capacity, weights and away dates, the calendar and SLA policy). Every action is a
service call (handoff.services.actions); a refusal is the page's message."""

from __future__ import annotations

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
from handoff.services import actions, teams
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
    managed = (
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
            "managed": managed.order_by("name"),
        },
    )


@login_required
def brief(request, pk: int):
    """What the rep should know before the call, opened from an inbox row (htmx): the
    score explanation, the latest timeline entries and the nurture emails already sent."""
    from leads.selectors.timeline import timeline
    from nurturing.selectors import lead_sends
    from scoring.selectors import explain

    handoff = get_object_or_404(actions.visible_handoffs(request.user).select_related("lead"),
                                pk=pk)  # fmt: skip
    lead = handoff.lead
    return render(
        request,
        "handoff/_brief.html",
        {
            "lead": lead,
            "explanation": explain(lead, now=timezone.now()),
            "entries": timeline(lead, limit=BRIEF_ENTRIES),
            "sends": list(lead_sends(lead)[:BRIEF_ENTRIES]),
        },
    )


BRIEF_ENTRIES = 10


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


@login_required
def team_board(request, team_id: int):
    team = _managed(request, team_id)
    policy = TeamPolicy.objects.filter(team=team).first() or TeamPolicy(team=team)
    members = list(team.members.order_by("username"))
    settings = {s.user_id: s for s in RepSettings.objects.filter(user__in=members)}
    if request.method == "POST":
        with domain_errors(request):
            _save_board(request, team, members)
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


def _save_board(request, team, members) -> None:
    """The board's form as text, handed to the service that checks and saves it."""
    post = request.POST
    policy = {name: post.get(name) for name in ("accept_hours", "contact_hours", "grace_hours")}
    for name in ("time_zone", "country"):
        if name in post:
            policy[name] = post.get(name)
    if post.get("route_in_hours_only") == "on":
        policy["route_in_hours_only"] = "on"
    reps = [
        teams.RepChange(
            user_id=member.pk,
            capacity=post.get(f"rep-{member.pk}-capacity", ""),
            weight=post.get(f"rep-{member.pk}-weight", ""),
            active=post.get(f"rep-{member.pk}-active") == "on",
            away_from=post.get(f"rep-{member.pk}-away_from", ""),
            away_until=post.get(f"rep-{member.pk}-away_until", ""),
        )
        for member in members
        if f"rep-{member.pk}-capacity" in post
    ]
    teams.save_team_board(team_id=team.pk, by=request.user, policy=policy, reps=reps)
