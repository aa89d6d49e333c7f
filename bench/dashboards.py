"""The dashboards at scale: N leads (default 1,000,000) with ~3 stage-history rows each,
10 activities each (10M at 1M), a handoff for every lead that reached SAL and a
two-email nurture track for every third lead.

Rows:
- every dashboard page (the whole page over HTTP) and its API, the funnel in both
  modes, with three filter
  mixes (none over 30 days; a source over two years; a campaign and a team over 90
  days), the funnel beside the same counts computed straight from the stage history
  (what a dashboard without rollups would run), each other page beside a bare GROUP BY
  over its source table — target p95 < 200 ms;
- the rollup job's catch-up after 100,000 new stage changes (at 1M; 10 % of N below it),
  beside one GROUP BY over the new rows alone (the least any rollup must read).
The first build of the rollups (every lead) is timed too, without a target.

    make bench BENCH_ARGS="dashboards --rows 1000000"
"""

# The SQL is this module's own constants and numbers.
# ruff: noqa: S608

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from bench._results import Row, explained, judged, option, side_by_side, timed
from dashboards.selectors import filters as filtering
from dashboards.services import rollup

TARGET_S = 0.2
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FUNNEL = ["new", "nurturing", "mql", "sal", "sql", "opportunity", "won"]


def _populate(n: int) -> None:
    """Leads, their stage history (each lead goes k steps along the funnel, some back to
    nurturing and on again), 10 activities per lead and handoffs to 3 teams."""
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO leads_campaign (code, name, channel, cost, created_at) "
            "SELECT 'c' || g, 'Campaign ' || g, 'webinar', 1000, now() "
            "FROM generate_series(1, 20) g"
        )
        c.execute("INSERT INTO leads_team (name) SELECT 'Team ' || g FROM generate_series(1, 3) g")
        c.execute(
            """
            INSERT INTO leads_lead (
                email, first_name, last_name, title, company, company_domain, website,
                industry, country, time_zone, source, campaign_id, latest_campaign_id,
                stage, need, timeline, consent_status, consent_method, fit, engagement,
                score, grade, custom, human_edited, created_at, updated_at, in_handoff)
            SELECT 'person' || g || '@example.com', 'Ada', 'Surname' || g, '', '', '', '',
                '', 'US', '',
                (ARRAY['web_form','trade_show','webinar','organic','paid_search',
                       'referral'])[1 + g %% 6],
                (SELECT min(id) FROM leads_campaign) + g %% 20,
                (SELECT min(id) FROM leads_campaign) + g %% 20,
                'new', '', '', 'unknown', '', 0, 0, 0, '', '{}'::jsonb, '{}',
                %s::timestamptz - (g %% 730) * interval '1 day' - (g %% 86400) * interval '1 s',
                now(), false
            FROM generate_series(1, %s) g
            """,
            [NOW, n],
        )
        # How far each lead went (0: still new); every 10th lead past MQL also recycled.
        c.execute(
            f"""
            INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason)
            SELECT l.id,
                   CASE WHEN s.i = 0 THEN '' ELSE (ARRAY{FUNNEL})[s.i] END,
                   (ARRAY{FUNNEL})[s.i + 1],
                   l.created_at + s.i * ((l.id % 72) + 1) * interval '1 hour', ''
            FROM leads_lead l
            CROSS JOIN LATERAL generate_series(0, (l.id * 37) % 7) AS s(i)
            """
        )
        c.execute(
            """
            INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason)
            SELECT l.id, 'mql', 'nurturing', l.created_at + interval '400 hours', 'recycled'
            FROM leads_lead l WHERE l.id % 10 = 0 AND (l.id * 37) % 7 >= 2
            """
        )
        c.execute(
            """
            UPDATE leads_lead l SET stage = last.to_stage FROM (
              SELECT DISTINCT ON (lead_id) lead_id, to_stage FROM leads_stagechange
              ORDER BY lead_id, changed_at DESC, id DESC) last
            WHERE last.lead_id = l.id
            """
        )
        c.execute(
            """
            INSERT INTO handoff_handoff (lead_id, team_id, status, decision, created_at,
                accept_by, warnings, escalations, breaches, reject_reason, note,
                lost_reason)
            SELECT sc.lead_id, (SELECT min(id) FROM leads_team) + sc.lead_id % 3, 'accepted',
                   '{}'::jsonb, sc.changed_at, sc.changed_at + interval '1 hour', 0, 0, 0,
                   '', '', ''
            FROM leads_stagechange sc WHERE sc.to_stage = 'sal'
            """
        )
        c.execute(
            """
            INSERT INTO leads_activity (lead_id, kind, occurred_at, data, created_at)
            SELECT (SELECT min(id) FROM leads_lead) + g %% %s,
                   (ARRAY['page_view','pricing_page_view','content_download','email_open',
                          'email_click','form_submit'])[1 + g %% 6],
                   %s::timestamptz - (g %% 700) * interval '1 day', '{}'::jsonb, now()
            FROM generate_series(1, %s) g
            """,
            [n, NOW, 10 * n],
        )
    _nurture()
    with connection.cursor() as c:
        for table in (
            "leads_lead",
            "leads_stagechange",
            "leads_activity",
            "handoff_handoff",
            "nurturing_enrolment",
            "nurturing_send",
        ):
            c.execute(f"VACUUM ANALYZE {table}")  # fmt: skip


def _nurture() -> None:
    """A two-email track: every third lead enrolled, each sent its emails (some opened,
    clicked, bounced, unsubscribed, capped), one in ten left as MQL."""
    from nurturing.services import templates, tracks

    template = templates.save_template(name="Welcome", subject="Welcome",
                                       html="<p>Hi</p>", text="Hi")  # fmt: skip
    track = tracks.create_track(name="Webinar follow-up", now=NOW)
    for _ in range(2):
        tracks.add_step(track_id=track.pk, kind="email", data={"template": template.pk}, now=NOW)
    steps = list(track.steps.order_by("position").values_list("id", flat=True))
    with connection.cursor() as c:
        c.execute(
            """
            INSERT INTO nurturing_enrolment (lead_id, track_id, rule_id, status, step_id,
                due_at, enrolled_at, exited_at, exit_reason)
            SELECT l.id, %s, NULL, CASE WHEN l.id %% 10 = 0 THEN 'exited' ELSE 'completed' END,
                   NULL, NULL, l.created_at, l.created_at + interval '9 days',
                   CASE WHEN l.id %% 10 = 0 THEN 'mql' ELSE 'completed' END
            FROM leads_lead l WHERE l.id %% 3 = 0
            """,
            [track.pk],
        )
        c.execute(
            """
            INSERT INTO nurturing_send (enrolment_id, step_id, step_key, lead_id, track_id,
                template_id, message_id, status, not_before, deferred, deferrals, capped,
                tries, last_error, skip_reason, to_email, subject, created_at, sent_at,
                opened_at, clicked_at, bounced_at, unsubscribed_at)
            SELECT e.id, s.step_id, s.step_id, e.lead_id, e.track_id, %s,
                   'bench-' || e.id || '-' || s.step_id || '@leadflow', 'sent',
                   e.enrolled_at, '', (e.lead_id %% 7 = 0)::int, e.lead_id %% 7 = 0, 1, '', '',
                   '', 'Welcome', e.enrolled_at, e.enrolled_at + interval '1 hour',
                   CASE WHEN e.lead_id %% 2 = 0 THEN e.enrolled_at + interval '2 hours' END,
                   CASE WHEN e.lead_id %% 5 = 0 THEN e.enrolled_at + interval '3 hours' END,
                   CASE WHEN e.lead_id %% 50 = 1 THEN e.enrolled_at + interval '1 hour' END,
                   CASE WHEN e.lead_id %% 100 = 3 THEN e.enrolled_at + interval '4 hours' END
            FROM nurturing_enrolment e CROSS JOIN unnest(%s::bigint[]) AS s(step_id)
            """,
            [template.pk, steps],
        )


def _marketer() -> User:
    user = User.objects.create_user("bench-marketer")
    user.groups.add(Group.objects.get_or_create(name="marketing")[0])
    return user


def _mixes() -> list[tuple[str, str, dict]]:
    with connection.cursor() as c:
        c.execute("SELECT min(code) FROM leads_campaign")
        (code,) = c.fetchone()
        c.execute("SELECT min(id) FROM leads_team")
        (team,) = c.fetchone()
    end = NOW.date()
    return [
        ("none", "no filter, 30 days", {"from": str(end - timedelta(days=29)), "to": str(end)}),
        ("source", "source = webinar, two years",
         {"from": str(end - timedelta(days=729)), "to": str(end), "source": "webinar"}),
        ("campaign-team", "a campaign and a team, 90 days",
         {"from": str(end - timedelta(days=89)), "to": str(end), "campaign": code,
          "team": str(team)}),
    ]  # fmt: skip


def _by_hand(f: filtering.Filters) -> None:
    """The funnel's counts (both periods) and times straight from the stage history."""
    low, high = f.bounds()
    plow, _ = f.previous().bounds()
    dims, params = [], []
    if f.source:
        dims.append("l.source = %s")
        params.append(f.source)
    if f.campaign_id is not None:
        dims.append("l.campaign_id = %s")
        params.append(f.campaign_id)
    if f.team_id is not None:
        dims.append("EXISTS (SELECT 1 FROM handoff_handoff h WHERE h.lead_id = l.id "
                    "AND h.team_id = %s)")  # fmt: skip
        params.append(f.team_id)
    where = " AND ".join(dims) or "TRUE"
    day = "l.created_at" if f.mode == "cohort" else "sc.changed_at"
    with connection.cursor() as c:
        c.execute(
            f"""
            SELECT sc.to_stage, {day} >= %s AS now, count(*),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY sc.changed_at - l.created_at)
            FROM leads_stagechange sc JOIN leads_lead l ON l.id = sc.lead_id
            WHERE {day} >= %s AND {day} < %s AND {where}
            GROUP BY 1, 2
            """,
            [low, plow, high, *params],
        )
        c.fetchall()


# The least each page must read, straight from its source table, for the period.
_BARE = {
    "sources": "SELECT source, count(*) FROM leads_lead WHERE created_at >= %s AND created_at < %s "
    "GROUP BY 1",
    "sla": "SELECT team_id, count(*) FROM handoff_handoff WHERE created_at >= %s "
    "AND created_at < %s GROUP BY 1",
    "aging": "SELECT stage, count(*) FROM leads_lead WHERE stage IN ('mql', 'sal') "
    "AND updated_at >= %s AND updated_at < %s GROUP BY 1",
    "closed-loop": "SELECT reject_reason, count(*) FROM handoff_handoff WHERE created_at >= %s "
    "AND created_at < %s GROUP BY 1",
    "nurture": "SELECT step_id, count(*) FROM nurturing_send WHERE created_at >= %s "
    "AND created_at < %s GROUP BY 1",
}


def _bare(slug: str, f: filtering.Filters):
    def run():
        if slug == "funnel":
            return _by_hand(f)
        with connection.cursor() as c:
            c.execute(_BARE[slug], list(f.bounds()))
            c.fetchall()

    return run


def _get(client: Client, path: str, query: dict):
    def call():
        answer = client.get(path, query, HTTP_HOST="localhost")
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}")

    return call


def _page_rows(n: int, repeat: int, user: User) -> list[Row]:
    from dashboards.pages import DASHBOARDS

    rows = []
    client = Client()
    client.force_login(user)
    for key, words, params in _mixes():
        for slug, board in DASHBOARDS.items():
            for mode in ("cohort", "period") if board.modes else ("cohort",):
                query = {**params, "mode": mode}
                f = filtering.parse(query, user=user, now=NOW)
                label = f"{board.title} page" + (f", {mode}" if board.modes else "")
                paths = [(f"/dashboards/{slug}/", label)]
                api = "/api/v1/funnel/" if slug == "funnel" else f"/api/v1/dashboards/{slug}/"
                paths.append((api, f"GET {api}" + (f", {mode}" if board.modes else "")))
                for path, what in paths:
                    work = f"{what}, {words}"
                    call = _get(client, path, query)
                    ours, base = side_by_side(call, _bare(slug, f), repeat=repeat)
                    rows.append(Row(
                        key=f"{'api' if 'api' in path else 'page'}-{slug}-{mode}-{key}",
                        work=work, leadflow=ours, baseline=base, runs=repeat,
                        target="p95 < 200 ms", met=judged(ours < TARGET_S, n),
                        explain=explained(work, call),
                    ))  # fmt: skip
    return rows


def _new_changes(count: int) -> None:
    """`count` new stage changes, each a different lead moving on, dated over 3 days."""
    with connection.cursor() as c:
        c.execute(
            """
            INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason)
            SELECT l.id, l.stage, 'disqualified',
                   %s::timestamptz - (l.id %% 3) * interval '1 day', 'bench'
            FROM leads_lead l WHERE l.stage NOT IN ('won', 'disqualified')
            ORDER BY l.id DESC LIMIT %s
            """,
            [NOW, count],
        )
        c.execute("UPDATE leads_lead SET stage = 'disqualified' WHERE id IN (SELECT lead_id "
                  "FROM leads_stagechange WHERE reason = 'bench')")  # fmt: skip
        c.execute("ANALYZE leads_stagechange")


def _catch_up_rows(n: int) -> list[Row]:
    count = 100_000 if n >= 1_000_000 else max(10, n // 10)
    first = timed(lambda: rollup.run(now=NOW))
    with connection.cursor() as c:  # what autovacuum does after a bulk load
        c.execute("VACUUM ANALYZE dashboards_visit")
    with connection.cursor() as c:
        c.execute("SELECT max(id) FROM leads_stagechange")
        (mark,) = c.fetchone()
    _new_changes(count)

    def bare():
        with connection.cursor() as c:
            c.execute(
                "SELECT (changed_at AT TIME ZONE 'UTC')::date, to_stage, count(*) "
                "FROM leads_stagechange WHERE id > %s GROUP BY 1, 2",
                [mark],
            )
            c.fetchall()

    base = timed(bare)
    ours = timed(lambda: rollup.run(now=NOW + timedelta(minutes=1)))
    return [
        Row(key="rollup-first", work=f"first build of the rollups ({n:,} leads)",
            leadflow=first, runs=1, explain=f"first build of the rollups ({n:,} leads)\n\n"
            "(timed without a plan: its plan is that of the catch-up's, over every lead)"),
        Row(key="rollup-catch-up",
            work=f"rollup catch-up after {count:,} new stage changes",
            leadflow=ours, baseline=base, runs=1, target="(no target set; the issue asks for "
            "the figure)", met=None,
            explain=_catch_up_plan(count)),
    ]  # fmt: skip


def _catch_up_plan(count: int) -> str:
    work = f"rollup catch-up after {count:,} new stage changes"
    _new_changes(min(count, 1000))
    return explained(work, lambda: rollup.run(now=NOW + timedelta(minutes=2)))


def main(options: list[str]) -> list[Row]:
    n, repeat = option(options, "--rows", 1_000_000), option(options, "--repeat", 20)
    _populate(n)
    user = _marketer()
    rows = _catch_up_rows(n)
    return [*rows, *_page_rows(n, repeat, user)]
