"""Pages show a domain error one way (leads.views.errors): as the page's error message,
or, to htmx, as the partial again with the error and a 4xx status."""

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import RequestFactory

from leads.exceptions import InvalidTransition, LeadFlowError
from leads.views.errors import domain_errors, field_errors, refused_partial
from tests.helpers import make_lead


def _request():
    request = RequestFactory().post("/")
    request._messages = CookieStorage(request)
    return request


def test_a_refusal_stops_the_block_and_becomes_the_pages_error_message():
    request, done = _request(), []
    with domain_errors(request) as outcome:
        raise InvalidTransition("The lead is already New.")
        done.append("never")  # pragma: no cover
    assert outcome.refused and outcome.error.status_code == 409
    assert [(m.level_tag, m.message) for m in get_messages(request)] == [
        ("error", "The lead is already New.")
    ]
    assert done == []


def test_a_block_that_goes_through_leaves_no_message_and_a_bug_is_not_swallowed():
    request = _request()
    with domain_errors(request) as outcome:
        pass
    assert not outcome.refused
    with pytest.raises(ZeroDivisionError), domain_errors(request):
        _ = 1 / 0
    assert list(get_messages(request)) == []


def test_a_refusal_shown_in_place_adds_no_message_and_lists_its_field_errors():
    request = _request()
    with domain_errors(request, message=False) as outcome:
        raise LeadFlowError("Fix the fields.", errors={"code": "Taken.", "cost": "Negative."})
    assert list(get_messages(request)) == []
    assert field_errors(outcome.error) == {"code": "Taken.", "cost": "Negative."}
    assert field_errors(LeadFlowError("No such campaign.", field="campaign")) == {
        "campaign": "No such campaign."
    }
    assert field_errors(LeadFlowError("No.")) == {"__all__": "No."}


@pytest.mark.django_db
def test_the_htmx_answer_is_the_partial_with_the_error_and_the_errors_4xx_status(marketer):
    lead = make_lead()
    request = _request()
    request.user = marketer
    template = "leads/lead_detail.html#activity"
    context = {"lead": lead, "timeline": [], "touch_kinds": []}
    conflict = refused_partial(
        request, template, context, InvalidTransition("Not now."), key="touch_error"
    )
    assert conflict.status_code == 409 and b'role="alert">Not now.<' in conflict.content
    odd = LeadFlowError("Odd.")
    odd.status_code = 503
    assert refused_partial(request, template, context, odd).status_code == 400


@pytest.mark.django_db
def test_a_refused_touch_answers_htmx_with_the_card_and_a_plain_post_with_a_message(
    client, marketer
):
    lead = make_lead()
    client.force_login(marketer)
    url = f"/leads/{lead.pk}/touch/"
    htmx = client.post(url, {"kind": "note", "body": " "}, headers={"HX-Request": "true"})
    assert htmx.status_code == 400
    html = htmx.content.decode()
    assert html.lstrip().startswith('<section class="card" id="activity">')
    assert "Write what happened." in html
    plain = client.post(url, {"kind": "note", "body": " "}, follow=True)
    assert plain.redirect_chain[-1][0] == f"/leads/{lead.pk}/"
    assert '<li class="message error">Write what happened.</li>' in plain.content.decode()


def test_htmx_is_told_to_swap_the_refused_partials_in(client):
    html = client.get("/login/").content.decode()
    assert '{"code": "(400|409|422)", "swap": true}' in html
