"""The project's 403 and 404 answers (leadflow/urls.py `handler403` / `handler404`):
pages in the app's layout, with its navigation; JSON under /api/ (a URL no route
matches too, e.g. `/api/v1/leads/1.5/`), where clients read `detail` as from every
other API error (leadflow.middleware.error_response)."""

from __future__ import annotations

from functools import partial

from django.views import defaults

from leadflow.middleware import error_response


def page_not_found(request, exception):
    page = partial(defaults.page_not_found, request, exception)
    return error_response(request, "Not found.", status=404, text=page)


def permission_denied(request, exception):
    page = partial(defaults.permission_denied, request, exception)
    detail = "You do not have permission to perform this action."
    return error_response(request, detail, status=403, text=page)
