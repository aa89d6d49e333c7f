"""The project's 400, 403 and 404 answers (leadflow/urls.py `handler400` ... `handler404`):
403 and 404 pages in the app's layout, with its navigation, a 400 one line saying why;
JSON under /api/ (a URL no route matches too, e.g. `/api/v1/leads/1.5/`), where clients
read `detail` as from every other API error (leadflow.middleware.error_response)."""

from __future__ import annotations

from functools import partial

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views import defaults

from leadflow.middleware import error_response


def page_not_found(request, exception):
    page = partial(defaults.page_not_found, request, exception)
    return error_response(request, "Not found.", status=404, text=page)


def permission_denied(request, exception):
    page = partial(defaults.permission_denied, request, exception)
    detail = "You do not have permission to perform this action."
    return error_response(request, detail, status=403, text=page)


def bad_request(request, exception):
    """A request Django refuses before any view: a body it cannot parse (multipart
    without a boundary), one too large, too many fields, a suspicious header."""
    detail = f"The request could not be read: {_why(exception)}."

    def page():
        return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")

    return error_response(request, detail, status=400, text=page)


def _why(exception) -> str:
    if isinstance(exception, MultiPartParserError):
        return "its form data is malformed"
    if isinstance(exception, RequestDataTooBig):
        return "it is too large"
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return "it has too many fields"
    return "it is malformed"
