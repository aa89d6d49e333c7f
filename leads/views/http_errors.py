"""The project's 403 and 404 answers (leadflow/urls.py `handler403` / `handler404`):
pages in the app's layout, with its navigation; JSON under /api/, where clients read
`detail` as from every other API error."""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request, exception):
    if _api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    if _api(request):
        detail = "You do not have permission to perform this action."
        return JsonResponse({"detail": detail}, status=403)
    return defaults.permission_denied(request, exception)
