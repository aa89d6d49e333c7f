"""API plumbing shared by every app: body size limit, the one error mapping, and how
errors are documented in the schema (`ErrorSerializer`, `error_responses`)."""

from __future__ import annotations

import codecs
import re
from io import BytesIO

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from leads.exceptions import LeadFlowError


class BodyTooLarge(exceptions.ParseError):
    default_detail = "The request body is too large."


class LimitedJSONParser(JSONParser):
    """JSON, refused before parsing when the body exceeds API_MAX_BODY_BYTES.

    DRF reads the body stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE,
    so the limit is enforced here, whether or not a Content-Length was sent.
    """

    max_bytes: int | None = None  # a parser for bigger bodies (a batch) sets its own

    def parse(self, stream, media_type=None, parser_context=None):
        limit = self.max_bytes or settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        try:
            data = super().parse(BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("The JSON is nested too deeply.") from None
        # In UTF-8 JSON text, NUL and unpaired surrogates reach a string only through
        # their \u escapes (raw, the parser refuses them).
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        strings = (
            codecs.lookup(encoding).name != "utf-8"
            or _NUL_OR_SURROGATE_ESCAPE.search(body) is not None
        )
        check_json(data, strings=strings)
        return data


MAX_JSON_DEPTH = 32
# \u0000 and \ud800-\udfff (also after an escaped backslash: a false alarm costs only
# the full check).
_NUL_OR_SURROGATE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")


def check_json(data, *, strings: bool = True) -> None:
    """Refuse what PostgreSQL cannot store or no lead needs: nesting past MAX_JSON_DEPTH,
    NUL characters and unpaired surrogates in any string (a 400, never a 500 later).
    `strings=False` checks the nesting only (for JSON text without such an escape, whose
    strings can hold neither)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise exceptions.ParseError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif strings and isinstance(value, str):
            if "\x00" in value:
                raise exceptions.ParseError("Text may not contain NUL characters (\\u0000).")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise exceptions.ParseError("Text may not contain unpaired surrogates.") from None


def exception_handler(exc, context):
    """DRF's handler plus domain errors: LeadFlowError → its status with field messages."""
    if isinstance(exc, LeadFlowError):
        key = exc.field or "detail"
        body = {key: [exc.message]} if exc.field else {"detail": exc.message}
        body.update(exc.extra)
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.data.setdefault("detail", "Too many requests.")
    return response


# --- errors in the schema -----------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """Every error answer: `detail` when the error is about no one field, else each
    field's messages under its name (`non_field_errors` for the whole input; an object
    for a field holding others, e.g. `custom` or a list's items by index), plus what the
    error adds (`allowed`: the stage moves a refused move could make)."""

    detail = serializers.CharField(required=False, help_text="What went wrong.")


class ErrorSchema(OpenApiSerializerExtension):
    """A serializer cannot say "any other key holds field messages"; the schema can."""

    target_class = ErrorSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = {
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": True},
            ],
            "description": "A field's messages, or the messages of the fields inside it.",
        }
        return schema


ERRORS = {
    400: "Bad input: the messages say which field and why; nothing was changed.",
    401: "No valid credentials (`Authorization: Token <key>` or a session).",
    403: "Signed in, but your role may not do this.",
    404: "There is no such object that you may see.",
    409: "The change conflicts with the object's current state; nothing was changed.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation can give, for `extend_schema(responses=...)`; 401
    is always among them (every endpoint that uses this needs a signed-in user), 403 for
    an operation a role may be refused (or that changes something: session auth's CSRF
    check refuses with a 403 too).

        @extend_schema(responses={200: LeadSerializer, **error_responses(400, 404)})
    """
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERRORS[code])
        for code in sorted({*codes, 401})
    }
