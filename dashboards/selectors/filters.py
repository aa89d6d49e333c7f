"""What every dashboard reads by: the period, the counting mode and the filters (source,
campaign, team), parsed once from a page's or the API's query, and scoped by who asks —
marketing and admins see every team, a manager only their teams, reps no dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connections

from leads import roles
from leads.exceptions import LeadFlowError
from leads.models import Campaign, Source, Team

COHORT, PERIOD = "cohort", "period"
DAY, MONTH = "d", "m"  # the rollups' grains: a row per day, and per calendar month
MODES = {
    COHORT: "Cohort: the leads created in the period, and how far they got",
    PERIOD: "Period: every entry into each stage during the period",
}
DEFAULT_DAYS = 30
LONGEST_DAYS = 3 * 366
EARLIEST_DAY = date(1990, 1, 1)  # nothing LeadFlow records is older (and previous() fits)


def db_alias() -> str:
    """The database the dashboards read: a read replica when DASHBOARD_DATABASE_URL is
    set (settings add it as alias `dashboard`), else the main database."""
    return "dashboard" if "dashboard" in settings.DATABASES else "default"


def cursor():
    return connections[db_alias()].cursor()


def zone() -> ZoneInfo:
    """Days (periods, the rollups' day columns) are the installation's days."""
    return ZoneInfo(settings.TIME_ZONE)


def today(now: datetime) -> date:
    return now.astimezone(zone()).date()


def can_see_dashboards(user) -> bool:
    return user.is_authenticated and (
        roles.sees_all_leads(user) or roles.MANAGER in roles.group_names(user)
    )


def visible_teams(user) -> list[int] | None:
    """The team ids `user` may see on dashboards: None for all (marketing, admins)."""
    if not can_see_dashboards(user):
        raise PermissionDenied("Dashboards are for managers and marketing.")
    if roles.sees_all_leads(user):
        return None
    return list(Team.objects.filter(managers=user).order_by("id").values_list("id", flat=True))


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    mode: str = COHORT
    source: str = ""
    campaign_id: int | None = None
    campaign_code: str = ""
    team_id: int | None = None
    teams: tuple[int, ...] | None = None  # the teams the reader may see (None: all)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        return replace(self, start=self.start - timedelta(days=self.days),
                       end=self.start - timedelta(days=1))  # fmt: skip

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as aware instants [start, end) in the installation's zone."""
        tz = zone()
        low = datetime.combine(self.start, datetime.min.time(), tzinfo=tz)
        high = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return low, high

    def spans(self, *, months: bool = True) -> list[tuple[str, date, date]]:
        """The period as rollup rows to read: (grain, first day, last day) — the whole
        calendar months inside it as month rows (grain "m", day = the 1st), the days
        before and after them as day rows (grain "d")."""
        first = self.start if self.start.day == 1 else _next_month(self.start)
        after = _next_month(self.end)  # the 1st after the end's month
        last = after if after - timedelta(days=1) == self.end else self.end.replace(day=1)
        if not months or first >= last:  # no whole month inside
            return [(DAY, self.start, self.end)]
        # [first, last) are whole months (last: the 1st after the last whole month).
        spans = [(DAY, self.start, first - timedelta(days=1)),
                 (MONTH, first, (last - timedelta(days=1)).replace(day=1)),
                 (DAY, last, self.end)]  # fmt: skip
        return [(g, a, b) for g, a, b in spans if a <= b]

    def period_rows(self, alias: str = "", *, months: bool = True) -> tuple[str, list]:
        """SQL choosing a rollup's rows of the period (its `grain` and `day` columns):
        month rows for the whole months in it, day rows for the rest."""
        p = f"{alias}." if alias else ""
        spans = self.spans(months=months)
        sql = " OR ".join(f"({p}grain = %s AND {p}day BETWEEN %s AND %s)" for _ in spans)
        return f"({sql})", [v for span in spans for v in span]

    def team_ids(self) -> list[int] | None:
        """The team ids to count: the chosen team, else the reader's teams (None: all)."""
        if self.team_id is not None:
            return [self.team_id]
        return None if self.teams is None else list(self.teams)

    def _conditions(self, source: str, campaign: str, team: str) -> tuple[str, list]:
        """The filters as SQL on the given column expressions, with their parameters."""
        sql, params = [], []
        if self.source:
            sql.append(f"{source} = %s")
            params.append(self.source)
        if self.campaign_id is not None:
            sql.append(f"{campaign} = %s")
            params.append(self.campaign_id)
        teams = self.team_ids()
        if teams is not None:
            sql.append(f"{team} = ANY(%s)")
            params.append(teams)
        return (" AND ".join(sql) or "TRUE"), params

    def where(self, alias: str = "") -> tuple[str, list]:
        """SQL conditions on a rollup or fact table's dimension columns (source,
        campaign_id, team_id), with their parameters; `alias` prefixes the columns."""
        p = f"{alias}." if alias else ""
        return self._conditions(f"{p}source", f"{p}campaign_id", f"{p}team_id")

    def lead_where(self, lead: str = "l") -> tuple[str, list]:
        """The same filters on a `leads_lead` row aliased `lead`: its source and campaign,
        and its team as the rollups define it (the team of its latest handoff; 0: none)."""
        team = (
            f"coalesce((SELECT lh.team_id FROM handoff_handoff lh WHERE lh.lead_id = {lead}.id "  # noqa: S608
            f"ORDER BY lh.created_at DESC, lh.id DESC LIMIT 1), 0)"
        )
        return self._conditions(f"{lead}.source", f"{lead}.campaign_id", team)

    def handoff_where(self, handoff: str = "h", lead: str = "l") -> tuple[str, list]:
        """The filters on a handoff (`handoff_handoff` aliased `handoff`) and its lead:
        source and campaign are the lead's, the team is the one the handoff went to."""
        return self._conditions(f"{lead}.source", f"{lead}.campaign_id", f"{handoff}.team_id")

    def query(self, **changes) -> dict[str, str]:
        """The filters as query parameters (links, CSV downloads, the other mode)."""
        f = replace(self, **{k: v for k, v in changes.items() if k not in ("campaign",)})
        out = {"from": f.start.isoformat(), "to": f.end.isoformat(), "mode": f.mode}
        code = changes.get("campaign", f.campaign_code)
        if f.source:
            out["source"] = f.source
        if code:
            out["campaign"] = code
        if f.team_id is not None:
            out["team"] = str(f.team_id)
        return out


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def presets(now: datetime) -> list[tuple[str, date, date]]:
    """The filter bar's periods: (label, first day, last day)."""
    end = today(now)
    month = end.replace(day=1)
    last_month_end = month - timedelta(days=1)
    return [
        ("Last 7 days", end - timedelta(days=6), end),
        ("Last 30 days", end - timedelta(days=29), end),
        ("Last 90 days", end - timedelta(days=89), end),
        ("This month", month, end),
        ("Last month", last_month_end.replace(day=1), last_month_end),
        ("Last 365 days", end - timedelta(days=364), end),
    ]


def _date(params, name: str, default: date, *, now: datetime) -> date:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise LeadFlowError(
            f"Enter the date as YYYY-MM-DD, not {raw[:40]!r}.", field=name
        ) from None
    if not EARLIEST_DAY + timedelta(days=LONGEST_DAYS) <= day <= today(now) + timedelta(days=366):
        raise LeadFlowError(
            f"Choose a day from {EARLIEST_DAY.year + 4} to a year from now.", field=name
        )
    return day


def parse(params, *, user, now: datetime) -> Filters:
    """Filters from a query (a QueryDict or dict), scoped to `user`; bad input is a
    LeadFlowError naming the parameter."""
    teams = visible_teams(user)
    end = _date(params, "to", today(now), now=now)
    start = _date(params, "from", end - timedelta(days=DEFAULT_DAYS - 1), now=now)
    if start > end:
        raise LeadFlowError("The period's start is after its end.", field="from")
    if (end - start).days + 1 > LONGEST_DAYS:
        raise LeadFlowError("Choose a period of at most three years.", field="from")
    mode = (params.get("mode") or COHORT).strip()
    if mode not in MODES:
        raise LeadFlowError("Choose the mode cohort or period.", field="mode")
    source = (params.get("source") or "").strip()
    if source and source not in Source.values:
        raise LeadFlowError(f"{source[:40]!r} is not a source.", field="source")
    code = (params.get("campaign") or "").strip()
    campaign_id = None
    if code:
        campaign_id = Campaign.objects.filter(code=code).values_list("id", flat=True).first()
        if campaign_id is None:
            raise LeadFlowError(
                f"There is no campaign with the code {code[:64]!r}.", field="campaign"
            )
    team_id = None
    raw_team = (params.get("team") or "").strip()
    if raw_team:
        try:
            team_id = int(raw_team)
        except ValueError:
            raise LeadFlowError("Choose a team from the list.", field="team") from None
        if teams is None and not Team.objects.filter(pk=team_id).exists():
            raise LeadFlowError("There is no such team.", field="team")
        if teams is not None and team_id not in teams:
            raise LeadFlowError("Choose one of your teams.", field="team")
    return Filters(start=start, end=end, mode=mode, source=source, campaign_id=campaign_id,
                   campaign_code=code, team_id=team_id,
                   teams=None if teams is None else tuple(teams))  # fmt: skip


def freshness() -> datetime | None:
    """As of when the rollups are complete (None: the rollup job has not run yet)."""
    with cursor() as c:
        c.execute("SELECT as_of FROM dashboards_rollupstate WHERE name = 'funnel'")
        row = c.fetchone()
    return row[0] if row else None
