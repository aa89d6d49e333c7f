"""Hostile input gets a clear 400 and changes nothing (never a 500)."""

import json

import pytest

from leads.models import Lead
from tests.helpers import make_lead


@pytest.mark.django_db
def test_json_nested_5000_deep_is_a_400(api_as, marketer):
    body = '{"email": "a@x.io", "custom": ' + "[" * 5000 + "]" * 5000 + "}"
    response = api_as(marketer).post("/api/v1/leads/", body, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json()["detail"]
    assert not Lead.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["a\u0000b", "\ud800"])
def test_nul_and_lone_surrogates_in_json_are_a_400(api_as, marketer, text):
    lead = make_lead()
    client = api_as(marketer)
    body = json.dumps({"stage": "nurturing", "stage_reason": text, "custom": {"x": text}})
    response = client.patch(f"/api/v1/leads/{lead.pk}/", body, content_type="application/json")
    assert response.status_code == 400
    assert Lead.objects.get(pk=lead.pk).stage == "new"


@pytest.mark.django_db
@pytest.mark.parametrize("escape", ["\\u0000", "\\uD800", "\\udfff", "\\\\u0000"])
def test_a_nul_or_surrogate_escape_among_harmless_ones_is_a_400(api_as, marketer, escape):
    """The parser checks strings only when the JSON text has such an escape: one among
    harmless ones (ü) still finds it; an escaped backslash before u0000 is only text."""
    body = '[{"email": "a@x.io", "last_name": "M\\u00fcller"}, {"email": "b@x.io", ' + (
        f'"first_name": "x{escape}y"}}]'
    )
    response = api_as(marketer).post("/api/v1/leads/batch/", body, content_type="application/json")
    if escape.startswith("\\\\"):
        assert response.status_code == 200
        assert Lead.objects.get(email="b@x.io").first_name == "x\\u0000y"
    else:
        assert response.status_code == 400
        assert not Lead.objects.exists()


@pytest.mark.django_db
def test_nul_in_a_form_or_a_query_is_a_400(client, marketer):
    lead = make_lead()
    client.force_login(marketer)
    response = client.post(f"/leads/{lead.pk}/move/", {"stage": "nurturing", "reason": "a\x00"})
    assert response.status_code == 400 and b"NUL" in response.content
    assert Lead.objects.get(pk=lead.pk).stage == "new"
    assert client.get("/leads/", {"search": "x\x00"}).status_code == 400


def _chunked(rf, body: bytes, *, terminated=True, content_type="application/json"):
    import io

    request = rf.post("/api/v1/leads/", data=b"", content_type=content_type)
    request.META.pop("CONTENT_LENGTH", None)
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["CONTENT_TYPE"] = content_type
    request.META["wsgi.input"] = io.BytesIO(body)
    if terminated:
        request.META["wsgi.input_terminated"] = True
    from django.core.handlers.wsgi import WSGIRequest

    return WSGIRequest(request.META)


def test_a_chunked_json_body_is_read_not_lost(rf):
    from leadflow.middleware import ReadChunkedBodies

    seen = {}

    def view(request):
        seen["body"] = request.body
        return None

    ReadChunkedBodies(view)(_chunked(rf, b'{"email": "a@x.io"}'))
    assert seen["body"] == b'{"email": "a@x.io"}'


def test_a_chunked_body_too_large_or_unterminated_is_refused(rf, settings):
    from leadflow.middleware import ReadChunkedBodies

    settings.API_MAX_BODY_BYTES = 10
    middleware = ReadChunkedBodies(lambda request: None)
    assert middleware(_chunked(rf, b"x" * 11)).status_code == 413
    assert middleware(_chunked(rf, b"{}", terminated=False)).status_code == 411
    assert (
        middleware(_chunked(rf, b"--x", content_type="multipart/form-data; boundary=x")).status_code
        == 411
    )
