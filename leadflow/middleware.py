"""Request checks every page shares."""

from __future__ import annotations

from django.http import HttpResponseBadRequest

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulCharacters:
    """A NUL character in a query or form value cannot be stored (PostgreSQL text) and has
    no use in a CRM: refuse the request with a clear 400 before any view reads it. (JSON
    bodies are checked by the API's parser, leadflow.api.check_json.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sources = [request.GET]
        if request.method == "POST" and request.content_type in _FORMS:
            sources.append(request.POST)
        for source in sources:
            for key, values in source.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return HttpResponseBadRequest(
                        "Text may not contain NUL characters; nothing was changed.",
                        content_type="text/plain; charset=utf-8",
                    )
        return self.get_response(request)
