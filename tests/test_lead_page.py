"""A lead's page: edit, log a note or a call, move the stage (only as the stage machine
allows), and the panels other apps register."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from leads import panels
from leads.models import Activity, FieldChange
from leads.services import define_custom_field, log_touch, move_stage
from tests.helpers import make_lead

HIGHER_APPS = {"scoring", "nurturing", "handoff", "dashboards"}


@pytest.mark.django_db
def test_the_timeline_shows_touches_stage_changes_and_edits_newest_first(client, marketer, now):
    lead = make_lead(title="Analyst", now=now - timedelta(days=1))
    client.force_login(marketer)
    client.post(f"/leads/{lead.pk}/edit/", {"title": "CTO", "email": lead.email})
    client.post(f"/leads/{lead.pk}/touch/", {"kind": "call", "body": "Left a voicemail"})
    client.post(f"/leads/{lead.pk}/move/", {"stage": "nurturing", "reason": "Not ready"})
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    for text in [
        "Left a voicemail",
        "New → Nurturing",
        "Not ready",
        "title changed",
        "Analyst → CTO",
    ]:
        assert text in html
    assert html.index("New → Nurturing") < html.index("Left a voicemail") < html.index("Created as")
    assert "first_name changed" not in html  # fields the form did not send are left alone


@pytest.mark.django_db
def test_editing_a_lead_saves_normalised_values_and_audits_them(client, marketer):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    lead = make_lead(email="old@acme.io")
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {
            "email": " New@Acme.io ",
            "phone": "+44 20 7946 0958",
            "country": "gb",
            "custom.seats": "1 200",
        },
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.email, lead.phone, lead.country) == ("new@acme.io", "+442079460958", "GB")
    assert lead.custom == {"seats": 1200}
    assert "email" in lead.human_edited
    assert FieldChange.objects.filter(lead=lead, field="email", changed_by=marketer).exists()
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "<dt>Seats</dt><dd>1200</dd>" in page  # under its label, not its name


@pytest.mark.django_db
def test_bad_edits_show_field_errors_and_save_nothing(client, marketer):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    lead = make_lead(email="ok@acme.io", title="Analyst")
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {"email": "not-an-email", "title": "CTO", "custom.seats": "lots"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html and "not a number" in html
    assert 'value="not-an-email"' in html  # what was typed is kept
    lead.refresh_from_db()
    assert (lead.email, lead.title) == ("ok@acme.io", "Analyst")


@pytest.mark.django_db
def test_logging_a_call_records_it_and_marks_a_sales_touch(client, rep_ann):
    lead = make_lead(owner=rep_ann)
    client.force_login(rep_ann)
    response = client.post(
        f"/leads/{lead.pk}/touch/",
        {"kind": "call", "body": "Booked a demo"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b"Booked a demo" in response.content
    call = Activity.objects.get(lead=lead, kind="call")
    assert (call.user, call.data["body"]) == (rep_ann, "Booked a demo")
    lead.refresh_from_db()
    assert lead.last_sales_touch_at == call.occurred_at


@pytest.mark.django_db
def test_an_empty_touch_is_refused_with_a_message(client, marketer):
    lead = make_lead()
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/touch/", {"kind": "note", "body": "  "}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400 and b"Write what happened." in response.content
    assert not Activity.objects.filter(lead=lead, kind="note").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("new", b"The lead is already New."),
        ("disqualified", b"Say why the lead moves from New to Disqualified."),  # no reason
    ],
)
def test_a_refused_move_says_why_it_did_nothing(client, marketer, stage, message):
    lead = make_lead()
    client.force_login(marketer)
    response = client.post(f"/leads/{lead.pk}/move/", {"stage": stage}, follow=True)
    assert message in response.content
    assert lead.stage_changes.count() == 1


@pytest.mark.django_db
def test_marketing_defines_custom_fields_on_their_page_and_reps_only_read_them(
    client, marketer, rep_ann
):
    client.force_login(marketer)
    bad = client.post("/leads/custom-fields/", {"label": "Tier", "name": "Tier!", "type": "choice"})
    assert bad.status_code == 400 and b"lower-case letters" in bad.content
    ok = client.post(
        "/leads/custom-fields/",
        {"label": "Tier", "name": "tier", "type": "choice", "choices": "Gold\nSilver"},
        follow=True,
    )
    assert b"Custom field \xe2\x80\x9cTier\xe2\x80\x9d added." in ok.content
    client.force_login(rep_ann)
    page = client.get("/leads/custom-fields/")
    assert b"Gold, Silver" in page.content and b"Add a field" not in page.content
    assert (
        client.post(
            "/leads/custom-fields/", {"label": "X", "name": "x", "type": "text"}
        ).status_code
        == 403
    )


def _move_options(html: str) -> list[str]:
    if 'id="move-stage"' not in html:
        return []
    select = html[html.index('id="move-stage"') :]
    select = select[: select.index("</select>")]
    return [part.split("<")[0] for part in select.split('">')[2:]]


@pytest.mark.django_db
def test_the_stage_form_offers_only_the_moves_the_stage_machine_allows_the_user(
    client, marketer, manager, rep_ann, now
):
    lead = make_lead(owner=rep_ann)
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert _move_options(html) == ["Nurturing", "MQL", "Disqualified (reason required)"]
    assert 'placeholder="Reason (required where marked)"' in html
    for to in ("mql", "sal"):
        move_stage(lead_id=lead.pk, to_stage=to, by=marketer, reason="Accepted", now=now)
    # From SAL on, moves belong to sales: a manager may make them by hand, with a reason ...
    client.force_login(manager)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert _move_options(html) == [
        "SQL (reason required)",
        "Nurturing (reason required)",
        "Lost (reason required)",
        "Disqualified (reason required)",
    ]
    assert (
        'placeholder="Reason (required)" aria-label="Reason" maxlength="500" size="30" required'
        in html
    )
    # ... the rep gets them from the handoff, so their page has no stage form.
    client.force_login(rep_ann)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert _move_options(html) == [] and f'action="/leads/{lead.pk}/move/"' not in html


@pytest.fixture
def greeting_panel(settings, tmp_path):
    """A panel another app could register: a template of its own and a context function
    (None for leads of the company "Hidden")."""
    (tmp_path / "greeting_panel.html").write_text(
        '<section id="greeting">Hello {{ name }}, about {{ lead.email }}</section>'
    )
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]

    def context(lead, request, now):
        return None if lead.company == "Hidden" else {"name": request.user.username}

    panels.register("greeting", template="greeting_panel.html", context=context, order=50)
    yield
    panels.unregister("greeting")


@pytest.mark.django_db
def test_a_registered_panel_shows_on_the_lead_page_in_order_after_the_score(
    client, marketer, greeting_panel
):
    lead = make_lead(email="ada@acme.io")
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert '<section id="greeting">Hello marketer, about ada@acme.io</section>' in html
    score = html.index(f'hx-get="/scoring/leads/{lead.pk}/panel/"')  # scoring's, still there
    assert score < html.index('id="greeting"')
    hidden = make_lead(company="Hidden")
    assert 'id="greeting"' not in client.get(f"/leads/{hidden.pk}/").content.decode()


def test_panels_are_ordered_and_registering_a_name_again_replaces_it():
    def context(lead, request, now):
        return {}

    panels.register("z-last", template="a.html", context=context, order=900)
    panels.register("a-first", template="a.html", context=context, order=1)
    panels.register("a-first", template="b.html", context=context, order=1)
    try:
        names = [p.name for p in panels.registered()]
        assert names[0] == "a-first" and names[-1] == "z-last" and "score" in names
        assert [p.template for p in panels.registered() if p.name == "a-first"] == ["b.html"]
    finally:
        panels.unregister("z-last")
        panels.unregister("a-first")


def test_leads_imports_no_app_built_on_it():
    root = Path(__file__).resolve().parent.parent / "leads"
    upward = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            upward += [f"{path.name}: {n}" for n in names if n.split(".")[0] in HIGHER_APPS]
    assert upward == []


@pytest.mark.django_db
def test_the_lead_page_runs_the_same_queries_for_a_short_or_long_history(
    client, marketer, rep_ann, now, django_assert_max_num_queries, greeting_panel
):
    lead = make_lead(owner=rep_ann, now=now - timedelta(days=2))
    client.force_login(marketer)
    with django_assert_max_num_queries(12) as short:
        client.get(f"/leads/{lead.pk}/")
    for i in range(20):
        log_touch(lead_id=lead.pk, kind="note", body=f"Note {i}", by=marketer, now=now)
    with django_assert_max_num_queries(12) as long:
        assert b"Note 19" in client.get(f"/leads/{lead.pk}/").content
    assert len(short.captured_queries) == len(long.captured_queries)
