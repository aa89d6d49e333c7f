"""Request checks every page shares."""

from __future__ import annotations

from functools import partial
from io import BytesIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, JsonResponse

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def error_response(request, message: str, *, status: int, text) -> HttpResponse:
    """An error answered before DRF sees the request (here, or when no URL matched):
    under /api/ the API's JSON (`{"detail": message}`), elsewhere what `text()` makes."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return text()


def _refuse(request, message: str, status: int) -> HttpResponse:
    text = partial(HttpResponse, message, status=status, content_type="text/plain; charset=utf-8")
    return error_response(request, message, status=status, text=text)


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
                    return _refuse(
                        request, "Text may not contain NUL characters; nothing was changed.", 400
                    )
        return self.get_response(request)


class ReadChunkedBodies:
    """Django reads a body without Content-Length as empty, so a chunked request (which
    gunicorn de-chunks, marking `wsgi.input_terminated`) would lose its JSON silently.
    Read it here, up to API_MAX_BODY_BYTES; a larger one is a 413, and a chunked body a
    server cannot end, or a chunked file upload, a 411 asking for a Content-Length."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and not meta.get(
            "CONTENT_LENGTH"
        ):
            if not meta.get("wsgi.input_terminated") or request.content_type.startswith(
                "multipart/"
            ):
                return _refuse(request, "Send this request with a Content-Length header.", 411)
            limit = settings.API_MAX_BODY_BYTES
            body = meta["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _refuse(
                    request, f"The request body is larger than the limit of {limit} bytes.", 413
                )
            meta["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(BytesIO(body), len(body))
        return self.get_response(request)
