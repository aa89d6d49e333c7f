"""Routing: every MQL reaches one team and, inside it, one named rep.

1. **Team**: the first active assignment rule whose condition (scoring's condition
   language) the lead meets, else the fallback team — in one SQL statement for a batch.
2. **Rep**: a smooth weighted round robin (nginx's: each eligible rep's running weight
   grows by its weight, the largest is picked and gives back the total) over the team's
   members with free capacity, skipping reps who are inactive, away, full, or outside
   the team's hours when the team says so. Deterministic and fair: over any run of
   picks among the same reps each gets its share within one. When nobody can take it,
   the handoff waits in the team queue (no rep), its SLA clock already running.
3. The handoff is written (at most one open per lead: a partial unique index), the lead
   is marked in handoff (scoring leaves it alone), its owner becomes the rep, its
   nurture track ends, and the decision is on its timeline in words.

A batch locks its leads (`FOR UPDATE SKIP LOCKED`: two routers never take the same
lead) and the team's rotation rows (routing to one team is one at a time), so
concurrent reactions and the tick's safety net never hand a lead out twice.
"""

# SQL here is assembled from this module's fragments and compiled conditions; values
# travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count

from handoff.models import AssignmentRule, Handoff, RepSettings, Rotation, TeamPolicy
from handoff.services.calendars import calendar_of, deadline, policy_of, warning_at
from leadflow import business_time
from leads.idsets import among
from leads.models import Lead, Team
from leads.services.ownership import bulk_assign_owner
from leads.services.stages import set_in_handoff
from leads.services.timeline import Entry, record_activities
from nurturing.models import Enrolment
from nurturing.services.enrolment import exit_tracks
from scoring.conditions import DefinitionError, compile_condition

ROUTED = "handoff_routed"
BATCH = 1000


@dataclass
class Candidate:
    user: object
    weight: int
    capacity: int
    open: int
    current: int
    skipped: str = ""  # why not eligible now ("" when eligible)


@dataclass
class Routed:
    handoffs: list[int] = field(default_factory=list)
    queued: int = 0  # waiting in a team queue (no rep could take them)


def _name(user) -> str:
    return user.get_full_name() or user.username


def _team_sql(now: datetime, exclude_teams: tuple[int, ...]) -> tuple[str, list]:
    """CASE over the rules for the lead row `l`: ARRAY[team id, rule id] of the first rule
    that takes it, ARRAY[fallback team, NULL] when none does, NULL without a fallback."""
    parts, params = [], []
    for rule in AssignmentRule.objects.filter(active=True).exclude(team_id__in=exclude_teams):
        try:
            condition = compile_condition(rule.condition, now=now, what="The rule")
        except DefinitionError:
            continue  # e.g. a custom field it tests was deleted: the rule matches none
        parts.append(f"WHEN {condition.text} THEN ARRAY[{int(rule.team_id)}, {int(rule.pk)}]")
        params += condition.params
    fallback = TeamPolicy.objects.filter(fallback=True).exclude(team_id__in=exclude_teams).first()
    default = f"ARRAY[{int(fallback.team_id)}, NULL]" if fallback else "NULL"
    if not parts:
        return default, []
    return f"CASE {' '.join(parts)} ELSE {default}::int[] END", params


def team_for(*, lead_id: int, now: datetime, exclude_teams: tuple[int, ...] = ()) -> int | None:
    """The team routing would hand the lead to now (None: no rule and no fallback)."""
    team_sql, params = _team_sql(now, exclude_teams)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {team_sql} FROM leads_lead l WHERE l.id = %s",
                       [*params, lead_id])  # fmt: skip
        row = cursor.fetchone()
    return None if row is None or row[0] is None else row[0][0]


def candidates(team: Team, policy: TeamPolicy, now: datetime, exclude_rep=None) -> list:
    """The team's members as routing sees them now, eligible or why not."""
    members = list(team.members.filter(is_active=True).order_by("username"))
    settings = {s.user_id: s for s in RepSettings.objects.filter(user__in=members)}
    open_counts = dict(
        Handoff.objects.filter(rep__in=members, status__in=["pending", "accepted"])
        .values("rep")
        .annotate(n=Count("id"))
        .values_list("rep", "n")
    )
    rotation = {r.rep_id: r.current for r in Rotation.objects.filter(team=team, rep__in=members)}
    calendar = calendar_of(policy)
    today = business_time.local(calendar, now).date()
    out = []
    for user in members:
        s = settings.get(user.pk) or RepSettings(user=user)
        c = Candidate(
            user, s.weight, s.capacity, open_counts.get(user.pk, 0), rotation.get(user.pk, 0)
        )
        if exclude_rep is not None and user.pk == getattr(exclude_rep, "pk", exclude_rep):
            c.skipped = "let the last deadline lapse"
        elif not s.active:
            c.skipped = "inactive"
        elif s.away_from and s.away_from <= today and (not s.away_until or today <= s.away_until):
            c.skipped = f"away until {s.away_until:%a %d %b}" if s.away_until else "away"
        elif policy.route_in_hours_only and not business_time.is_open(calendar, now):
            c.skipped = "outside the team's hours"
        out.append(c)
    return out


def pick(reps: list[Candidate]) -> Candidate | None:
    """One smooth-weighted-round-robin pick among the eligible reps with free capacity
    (updating their running weights and the winner's open count); None when none."""
    free = [c for c in reps if not c.skipped and c.open < c.capacity]
    if not free:
        return None
    total = sum(c.weight for c in free)
    for c in free:
        c.current += c.weight
    best = max(free, key=lambda c: (c.current, -c.user.pk))
    best.current -= total
    best.open += 1
    return best


def explain(reps: list[Candidate], chosen: Candidate | None) -> dict:
    """Who got it and why, and who could not take it and why (inactive, away, full, out
    of hours); reps who could have but whose turn it was not are not listed."""

    def line(c: Candidate) -> str:
        if c.skipped:
            return f"{_name(c.user)} {c.skipped}"
        if c.open >= c.capacity and c is not chosen:
            return f"{_name(c.user)} full ({c.open} of {c.capacity} open)"
        shown = c.open - 1 if c is chosen else c.open
        return f"{_name(c.user)}: {shown} of {c.capacity} open, weight {c.weight}"

    unable = [c for c in reps if c is not chosen and (c.skipped or c.open >= c.capacity)]
    return {
        "rep": chosen.user.username if chosen else None,
        "why": line(chosen) if chosen else "nobody can take it: waiting in the team queue",
        "others": [line(c) for c in unable],
    }


def route(
    *,
    now: datetime,
    lead_ids: list[int] | None = None,
    exclude_teams: tuple[int, ...] = (),
) -> Routed:
    """Hand every MQL of `lead_ids` (or all) in no open handoff to a team and a rep."""
    result = Routed()
    team_sql, params = _team_sql(now, exclude_teams)
    scope, scope_params = "", []
    if lead_ids is not None:
        scope, scope_params = f"AND {among('l.id')}", [list(lead_ids)]
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # Leads no rule claims, with no fallback team, wait for a team to exist.
                cursor.execute(
                    f"""
                    SELECT l.id, {team_sql} FROM leads_lead l
                    WHERE l.stage = 'mql' AND NOT l.in_handoff AND l.merged_into_id IS NULL
                      AND l.erased_at IS NULL
                      {scope} AND ({team_sql}) IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM handoff_handoff h WHERE h.lead_id = l.id
                                      AND h.status IN ('pending', 'accepted'))
                    ORDER BY l.id LIMIT %s FOR UPDATE OF l SKIP LOCKED
                    """,
                    [*params, *scope_params, *params, BATCH],
                )
                rows = cursor.fetchall()
            by_team: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
            for lead_id, (team_id, rule_id) in rows:
                by_team[team_id].append((lead_id, rule_id))
            for team_id, leads in by_team.items():
                _route_to_team(team_id, leads, now=now, result=result)
        if len(rows) < BATCH:
            return result


def _route_to_team(team_id: int, leads: list[tuple[int, int | None]], *, now, result) -> None:
    team = Team.objects.get(pk=team_id)
    policy = policy_of(team)
    list(Rotation.objects.select_for_update().filter(team=team))  # one router per team
    reps = candidates(team, policy, now)
    accept_by = deadline(policy, now, policy.accept_hours)
    warn = warning_at(policy, now, accept_by, 0)
    rules = {r.pk: r.name for r in AssignmentRule.objects.filter(pk__in={r for _, r in leads if r})}
    made, entries, owners = [], [], defaultdict(list)
    for lead_id, rule_id in leads:
        chosen = pick(reps)
        decision = {
            "team": team.name,
            "rule": rules.get(rule_id, "no rule matched: fallback team")
            if rule_id
            else "no rule matched: fallback team",
            **explain(reps, chosen),
        }
        made.append(
            Handoff(
                lead_id=lead_id,
                team=team,
                rep=chosen.user if chosen else None,
                rule_id=rule_id,
                decision=decision,
                created_at=now,
                assigned_at=now if chosen else None,
                accept_by=accept_by,
                warn_at=warn,
            )
        )
        if chosen:
            owners[chosen.user].append(lead_id)
        else:
            result.queued += 1
        text = f"Handed to {team.name}: {decision['why']}"
        entries.append(
            Entry(
                lead_id,
                ROUTED,
                now,
                None,
                {"team": team.name, "rep": decision["rep"], "text": text},
            )
        )
    Handoff.objects.bulk_create(made)
    result.handoffs += [h.pk for h in made]
    Rotation.objects.bulk_create(
        [Rotation(team=team, rep=c.user, current=c.current) for c in reps],
        update_conflicts=True,
        unique_fields=["team", "rep"],
        update_fields=["current"],
    )
    ids = [lead_id for lead_id, _ in leads]
    set_in_handoff(lead_ids=ids, in_handoff=True)
    for rep, lead_ids in owners.items():
        bulk_assign_owner(lead_ids=lead_ids, owner=rep, by=None, now=now)
    exit_tracks(lead_ids=ids, reason=Enrolment.Exit.HANDOFF, now=now)
    record_activities(entries, now=now)


def reassign(*, handoff: Handoff, now: datetime, exclude_rep=None, to=None) -> Handoff:
    """Give a pending handoff to the next rep by the team's routing (`exclude_rep` left
    out), or to `to`; a fresh accept deadline. Call with the handoff locked."""
    team = handoff.team
    policy = policy_of(team)
    list(Rotation.objects.select_for_update().filter(team=team))
    reps = candidates(team, policy, now, exclude_rep=exclude_rep)
    chosen = pick(reps) if to is None else next((c for c in reps if c.user.pk == to.pk), None)
    decision = {
        "team": team.name,
        "rule": handoff.decision.get("rule", ""),
        **explain(reps, chosen),
    }
    handoff.rep = chosen.user if chosen else None
    handoff.assigned_at = now
    handoff.accept_by = deadline(policy, now, policy.accept_hours)
    handoff.warn_at, handoff.warnings = warning_at(policy, now, handoff.accept_by, 0), 0
    handoff.accept_breached_at = handoff.escalate_at = None
    handoff.decision = decision
    handoff.save()
    Rotation.objects.bulk_create(
        [Rotation(team=team, rep=c.user, current=c.current) for c in reps],
        update_conflicts=True,
        unique_fields=["team", "rep"],
        update_fields=["current"],
    )
    if chosen is not None:
        bulk_assign_owner(
            leads=Lead.objects.filter(pk=handoff.lead_id), owner=chosen.user, by=None, now=now
        )
    record_activities(
        [
            Entry(
                handoff.lead_id,
                ROUTED,
                now,
                None,
                {**decision, "text": f"Reassigned in {team.name}: {decision['why']}"},
            )
        ],
        now=now,
    )
    return handoff
