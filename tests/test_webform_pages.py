"""Marketing's form pages: submissions per form, switching a form off and on, a preview,
copying the snippet; what a visitor reads when a submission is refused; thank-you pages
only on the web."""

from html import unescape

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.exceptions import LeadFlowError
from leads.models import CustomField, LeadForm
from leads.services import define_custom_field, webforms


@pytest.fixture
def demo_form(db, marketer, now):
    cache.clear()
    define_custom_field(name="plan_tier", label="Plan tier", type="choice", choices=["Gold"])
    definition = webforms.Definition(
        name="Demo request",
        fields=["email", "company", "custom.plan_tier"],
        required=["email", "company", "custom.plan_tier"],
    )
    return webforms.create_form(definition=definition, by=marketer, now=now)


def _submit(client, slug, **post):
    return client.post(f"/f/{slug}/", post)


@pytest.mark.django_db
def test_a_refused_submission_names_each_field_by_the_label_the_visitor_read(client, demo_form):
    response = client.post(
        f"/f/{demo_form.slug}/", {"email": "not-an-email"}, HTTP_REFERER="https://acme.example/demo"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<strong>Company</strong>: This field is required." in html
    assert "<strong>Plan tier</strong>: This field is required." in html
    assert "<strong>Email</strong>:" in html
    assert "custom.plan_tier" not in html and "<strong>company</strong>" not in html
    assert 'href="https://acme.example/demo" data-back' in html  # no javascript: link
    # Scripts still get the field names they posted.
    answer = client.post(
        f"/f/{demo_form.slug}/", {"email": "a@b.io"}, HTTP_ACCEPT="application/json"
    )
    assert set(answer.json()) == {"company", "custom.plan_tier"}


@pytest.mark.django_db
def test_the_snippet_labels_custom_fields_as_visitors_should_read_them(demo_form):
    html = webforms.snippet(demo_form, action_url="https://crm.example/f/demo-request/")
    assert '<label for="lf-custom-plan_tier">Plan tier</label>' in html
    assert "(custom)" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["ftp://files.acme.example/thanks", "javascript:alert(1)", "mailto:x@acme.example"]
)
def test_a_thank_you_page_must_be_an_http_or_https_address(marketer, now, url):
    definition = webforms.Definition(name="Webinar", fields=["email"], redirect_url=url)
    with pytest.raises(LeadFlowError) as refused:
        webforms.create_form(definition=definition, by=marketer, now=now)
    assert "http:// or https://" in refused.value.extra["errors"]["redirect_url"]
    assert not LeadForm.objects.exists()


@pytest.mark.django_db
def test_an_https_thank_you_page_is_kept_and_an_ftp_one_refused_on_the_edit_page(
    client, marketer, demo_form
):
    client.force_login(marketer)
    post = {
        "name": "Demo request",
        "fields": ["email"],
        "required": ["email"],
        "source": "web_form",
    }
    response = client.post(
        f"/leads/forms/{demo_form.slug}/",
        {**post, "redirect_url": "ftp://acme.example/t", "active": "on"},
    )
    assert response.status_code == 400
    assert "http:// or https://" in response.content.decode()
    client.post(
        f"/leads/forms/{demo_form.slug}/",
        {**post, "redirect_url": "https://acme.example/t", "active": "on"},
    )
    demo_form.refresh_from_db()
    assert demo_form.redirect_url == "https://acme.example/t" and demo_form.fields == ["email"]


@pytest.mark.django_db
def test_the_form_list_counts_each_forms_submissions_in_one_grouped_query(
    client, marketer, demo_form, now
):
    other = webforms.create_form(
        definition=webforms.Definition(name="Newsletter", fields=["email"]), by=marketer, now=now
    )
    for i in range(3):
        assert (
            _submit(
                client,
                demo_form.slug,
                email=f"p{i}@acme.example",
                company="Acme",
                **{"custom.plan_tier": "gold"},
            ).status_code
            == 303
        )
    _submit(
        client,
        demo_form.slug,
        email="p0@acme.example",
        company="Acme",
        **{"custom.plan_tier": "Gold"},
    )
    _submit(
        client, demo_form.slug, email="bot@spam.example", company="X", **{webforms.HONEYPOT: "x"}
    )
    client.force_login(marketer)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/leads/forms/").content.decode()
    assert [q for q in queries if "leads_activity" in q["sql"]].__len__() == 1
    row = html[html.index(">Demo request</a>") :]
    assert '<td class="num">4</td>' in row[: row.index("</tr>")]  # a repeat counts; a bot does not
    row = html[html.index(">Newsletter</a>") :]
    assert '<td class="num">0</td>' in row[: row.index("</tr>")]
    assert "Email, Company, Plan tier" in html  # fields by their labels
    assert "4 submissions so far." in client.get(f"/leads/forms/{demo_form.slug}/").content.decode()
    assert other.slug


@pytest.mark.django_db
def test_marketing_switches_a_form_off_and_on_again(client, marketer, demo_form):
    client.force_login(marketer)
    response = client.post(f"/leads/forms/{demo_form.slug}/active/", {"active": "no"}, follow=True)
    assert "is switched off" in response.content.decode()
    assert "Reactivate" in response.content.decode()
    assert _submit(client, demo_form.slug, email="a@acme.example").status_code == 404
    client.post(f"/leads/forms/{demo_form.slug}/active/", {"active": "yes", "next": "list"})
    demo_form.refresh_from_db()
    assert demo_form.active and demo_form.fields == ["email", "company", "custom.plan_tier"]


@pytest.mark.django_db
def test_only_marketing_switches_forms_and_previews_them(client, rep_ann, demo_form):
    client.force_login(rep_ann)
    assert (
        client.post(f"/leads/forms/{demo_form.slug}/active/", {"active": "no"}).status_code == 403
    )
    assert client.get(f"/leads/forms/{demo_form.slug}/preview/").status_code == 403
    demo_form.refresh_from_db()
    assert demo_form.active


@pytest.mark.django_db
def test_the_preview_shows_the_form_in_a_frame_that_cannot_submit(client, marketer, demo_form):
    client.force_login(marketer)
    html = client.get(f"/leads/forms/{demo_form.slug}/preview/").content.decode()
    frame = html[html.index("<iframe") : html.index("</iframe>")]
    assert " sandbox " in frame and "allow-forms" not in frame
    srcdoc = unescape(frame[frame.index('srcdoc="') + 8 : frame.rindex('"')])
    assert srcdoc == webforms.snippet(
        demo_form, action_url=f"http://testserver/f/{demo_form.slug}/"
    )


@pytest.mark.django_db
def test_the_form_page_offers_a_copy_button_and_keeps_the_text_box(client, marketer, demo_form):
    client.force_login(marketer)
    html = client.get(f"/leads/forms/{demo_form.slug}/").content.decode()
    assert '<button type="button" data-copy="form-snippet" hidden>Copy the snippet</button>' in html
    assert '<textarea readonly rows="16" class="snippet" id="form-snippet"' in html
    assert CustomField.objects.count() == 1
