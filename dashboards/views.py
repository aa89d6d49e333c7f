"""The dashboards' pages under /dashboards/ (managers and marketing; a manager sees their
teams): one view for the six pages of dashboards.pages, each with the shared filter bar,
its tables with their charts, and `?format=csv&table=<name>` for any of its tables. Bad
filters show the field's error on the page (400), never a 500; reps get a 403."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from dashboards.pages import DASHBOARDS
from dashboards.selectors import filters as filtering
from dashboards.selectors.aging import Aging
from dashboards.tables import csv_response
from leads import roles
from leads.exceptions import LeadFlowError
from leads.models import Campaign, Source, Team

FRESH = timedelta(minutes=1)


@login_required
def home(request):
    """The home page: a manager's is the funnel dashboard; marketing and reps keep the
    lead list."""
    groups = roles.group_names(request.user)
    if roles.MANAGER in groups and not roles.sees_all_leads(request.user):
        return redirect("dashboards:page", slug="funnel")
    return redirect("leads:list")


def _freshness(as_of: datetime | None, now: datetime) -> dict:
    if as_of is None:
        return {"as_of": None, "stale": True}
    local = as_of.astimezone(filtering.zone())
    shown = local.strftime("%H:%M:%S")
    if local.date() != filtering.today(now):
        shown = local.strftime("%Y-%m-%d %H:%M:%S")
    return {"as_of": shown, "stale": now - as_of > FRESH}


@login_required
def dashboard(request, slug: str):
    board = DASHBOARDS.get(slug)
    if board is None:
        raise Http404("No such dashboard.")
    user, now = request.user, timezone.now()
    if not filtering.can_see_dashboards(user):
        raise PermissionDenied("Dashboards are for managers and marketing.")
    error, built = None, None
    try:
        f = filtering.parse(request.GET, user=user, now=now)
        built = board.build(f, request.GET, now)
    except LeadFlowError as exc:
        error = exc
        f = filtering.parse({}, user=user, now=now)
    if request.GET.get("format") == "csv" and built is not None:
        table = built.table(request.GET.get("table", ""))
        if table is None:
            raise Http404("This page has no such table.")
        return csv_response(table, page=slug, now=now)
    teams = Team.objects.using(filtering.db_alias()).order_by("name")
    if f.teams is not None:
        teams = teams.filter(pk__in=f.teams)
    query = f.query()
    extra = {k: request.GET[k] for k in ("days",) if request.GET.get(k)}
    context = {
        "board": board,
        "boards": DASHBOARDS.values(),
        "f": f,
        "error": error,
        "raw": request.GET,
        "built": built,
        "modes": filtering.MODES,
        "mode_label": filtering.MODES[f.mode],
        "presets": [
            {
                "label": label,
                "query": urlencode({**query, "from": a.isoformat(), "to": b.isoformat()}),
                "current": (a, b) == (f.start, f.end),
            }
            for label, a, b in filtering.presets(now)
        ],
        "mode_links": [
            {
                "mode": m,
                "label": text,
                "query": urlencode({**query, **extra, "mode": m}),
                "current": m == f.mode,
            }
            for m, text in filtering.MODES.items()
        ],
        "nav_query": urlencode(query),
        "csv_query": urlencode({**query, **extra, "format": "csv"}),
        "sources": Source.choices,
        "campaigns": Campaign.objects.using(filtering.db_alias())
        .order_by("name")
        .values_list("code", "name"),
        "teams": teams.values_list("id", "name"),
        **_freshness(filtering.freshness(), now),
    }
    if isinstance(built, Aging):
        base = {**query, **extra}
        page = built.options.page
        context["pager"] = {
            "page": page,
            "pages": built.pages,
            "previous": urlencode({**base, "page": page - 1}) if page > 1 else None,
            "next": urlencode({**base, "page": page + 1}) if page < built.pages else None,
        }
        context["days"] = built.options.days
    elif slug == "aging":
        context["days"] = request.GET.get("days", "")
    return render(request, "dashboards/page.html", context, status=400 if error else 200)
