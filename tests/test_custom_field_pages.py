"""Custom fields after they exist: relabel, change a choice field's choices (leads keep
a removed choice, and are counted first), delete a field with its values (asked first,
each removal audited), the name's format explained where it is typed."""

import pytest

from leads.exceptions import LeadFlowError
from leads.models import CustomField, FieldChange, Lead
from leads.services import custom_fields, define_custom_field, webforms
from tests.helpers import make_lead


@pytest.fixture
def plan(db):
    return define_custom_field(
        name="plan", label="Plan", type="choice", choices=["Gold", "Silver", "Bronze"]
    )


def _leads_with_plans(*plans):
    return [make_lead(custom={"plan": p}) if p else make_lead() for p in plans]


@pytest.mark.django_db
def test_marketing_relabels_a_field_and_changes_its_choices(client, marketer, plan):
    client.force_login(marketer)
    response = client.post(
        "/leads/custom-fields/plan/",
        {"label": "Plan tier", "choices": "Gold\nSilver\nBronze\nPlatinum"},
        follow=True,
    )
    assert "Custom field “Plan tier” saved." in response.content.decode()
    plan.refresh_from_db()
    assert (plan.label, plan.choices) == ("Plan tier", ["Gold", "Silver", "Bronze", "Platinum"])


@pytest.mark.django_db
def test_removing_a_choice_leads_hold_says_how_many_first_and_they_keep_it(
    client, marketer, plan, now
):
    lead, *_ = _leads_with_plans("Gold", "Gold", "Silver", None)
    client.force_login(marketer)
    response = client.post(
        "/leads/custom-fields/plan/", {"label": "Plan", "choices": "Silver\nBronze"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<li>“Gold”: 2 leads</li>" in html and "Save anyway" in html
    plan.refresh_from_db()
    assert plan.choices == ["Gold", "Silver", "Bronze"]  # nothing saved yet
    response = client.post(
        "/leads/custom-fields/plan/",
        {"label": "Plan", "choices": "Silver\nBronze", "confirmed": "yes"},
        follow=True,
    )
    assert "2 leads still hold a removed choice." in response.content.decode()
    plan.refresh_from_db()
    assert plan.choices == ["Silver", "Bronze"]
    assert Lead.objects.filter(custom__plan="Gold").count() == 2
    # Still readable on the lead's page, and the edit form keeps it when left alone.
    assert "<dt>Plan</dt><dd>Gold</dd>" in client.get(f"/leads/{lead.pk}/").content.decode()
    edit = client.get(f"/leads/{lead.pk}/edit/").content.decode()
    assert '<option value="Gold" selected>Gold (no longer a choice)</option>' in edit
    saved = client.post(f"/leads/{lead.pk}/edit/", {"first_name": "Ada", "custom.plan": "Gold"})
    assert saved.status_code == 302
    lead.refresh_from_db()
    assert (lead.first_name, lead.custom["plan"]) == ("Ada", "Gold")


@pytest.mark.django_db
def test_a_field_edit_refuses_bad_choices_and_a_blank_label(plan):
    with pytest.raises(LeadFlowError) as refused:
        custom_fields.update_custom_field(name="plan", label=" ", choices=["Gold", "gold"])
    assert set(refused.value.extra["errors"]) == {"label", "choices"}
    text = define_custom_field(name="notes", label="Notes", type="text", choices=[])
    with pytest.raises(LeadFlowError):
        custom_fields.update_custom_field(name=text.name, label="Notes", choices=["a"])


@pytest.mark.django_db
def test_deleting_a_field_says_first_what_happens_to_the_values_then_removes_them_audited(
    client, marketer, plan, now
):
    leads = _leads_with_plans("Gold", "Silver", None)
    client.force_login(marketer)
    html = client.get("/leads/custom-fields/plan/delete/").content.decode()
    assert "2 leads have a value; the values are removed from them." in html
    assert CustomField.objects.filter(name="plan").exists()  # asking changes nothing
    response = client.post("/leads/custom-fields/plan/delete/", follow=True)
    assert "its value was removed from 2 leads." in response.content.decode()
    assert not CustomField.objects.filter(name="plan").exists()
    assert not Lead.objects.filter(custom__has_key="plan").exists()
    audit = FieldChange.objects.filter(field="custom.plan", channel="field_deleted")
    rows = sorted((a.lead_id, a.old_value, a.new_value, a.changed_by_id) for a in audit)
    assert rows == [
        (leads[0].pk, "Gold", None, marketer.pk),
        (leads[1].pk, "Silver", None, marketer.pk),
    ]


@pytest.mark.django_db
def test_a_field_a_web_form_asks_for_is_not_deleted(client, marketer, plan, now):
    webforms.create_form(
        definition=webforms.Definition(name="Upgrade", fields=["email", "custom.plan"]),
        by=marketer,
        now=now,
    )
    _leads_with_plans("Gold")
    client.force_login(marketer)
    assert (
        "the web form “Upgrade”" in client.get("/leads/custom-fields/plan/delete/").content.decode()
    )
    response = client.post("/leads/custom-fields/plan/delete/", follow=True)
    assert "still used by the web form “Upgrade”" in response.content.decode()
    assert CustomField.objects.filter(name="plan").exists()
    assert Lead.objects.filter(custom__plan="Gold").exists()


@pytest.mark.django_db
def test_only_marketing_edits_or_deletes_fields(client, rep_ann, plan):
    client.force_login(rep_ann)
    assert client.post("/leads/custom-fields/plan/", {"label": "X"}).status_code == 403
    assert client.post("/leads/custom-fields/plan/delete/").status_code == 403
    assert CustomField.objects.get(name="plan").label == "Plan"


@pytest.mark.django_db
def test_the_name_format_is_explained_where_it_is_typed(client, marketer):
    client.force_login(marketer)
    html = client.get("/leads/custom-fields/").content.decode()
    assert 'aria-describedby="cf-name-help"' in html
    assert "Lower-case letters, digits and underscores, starting with a letter" in html
    response = client.post(
        "/leads/custom-fields/", {"name": "Plan Tier", "label": "Plan", "type": "text"}
    )
    assert response.status_code == 400
    assert (
        "Use lower-case letters, digits and underscores, starting with a letter."
        in response.content.decode()
    )


@pytest.mark.django_db
def test_an_edit_to_a_lead_still_checks_a_changed_choice(client, plan, marketer):
    lead = make_lead(custom={"plan": "Gold"})
    client.force_login(marketer)
    assert client.post(f"/leads/{lead.pk}/edit/", {"custom.plan": "Tin"}).status_code == 400
    lead.refresh_from_db()
    assert lead.custom["plan"] == "Gold"


@pytest.mark.django_db
def test_the_api_edits_and_deletes_fields_through_the_same_rules(api_as, marketer, rep_ann, plan):
    make_lead(custom={"plan": "Gold"})
    api = api_as(marketer)
    answer = api.patch(
        "/api/v1/custom-fields/plan/",
        {"label": "Tier", "choices": ["Gold", "Platinum"]},
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "plan",
        "label": "Tier",
        "type": "choice",
        "choices": ["Gold", "Platinum"],
    }
    refused = api.patch("/api/v1/custom-fields/plan/", {"label": ""}, format="json")
    assert refused.status_code == 400 and "label" in refused.json()["errors"]
    assert api_as(rep_ann).delete("/api/v1/custom-fields/plan/").status_code == 403
    assert api.delete("/api/v1/custom-fields/plan/").status_code == 204
    assert not Lead.objects.filter(custom__has_key="plan").exists()
    assert api.get("/api/v1/custom-fields/plan/").status_code == 404
