"""The one way pages show a domain error (a `LeadFlowError` a service raised).

A page runs its service calls inside `domain_errors(request)`: when a service refuses,
the rest of the block is skipped, the error's message becomes the page's error message
(shown on the next page rendered, usually after a redirect), and the outcome holds the
error for a page that shows it in place instead. An htmx request answers the partial it
asked for with the error in it and the error's 4xx status (`refused_partial`);
base.html tells htmx to swap those answers in.

    with domain_errors(request):
        services.move_stage(...)
        messages.success(request, "Moved.")
    return redirect(...)

Only `LeadFlowError` is caught: a bug still fails loudly, a `PermissionDenied` is
still a 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leads.exceptions import LeadFlowError


@dataclass
class Outcome:
    """How a `domain_errors` block ended: `error` is the refusal that stopped it."""

    error: LeadFlowError | None = None

    @property
    def refused(self) -> bool:
        return self.error is not None


@contextmanager
def domain_errors(request: HttpRequest, *, message: bool = True) -> Iterator[Outcome]:
    """Run the block's service calls; a LeadFlowError stops the block, is kept on the
    outcome and, unless `message` is False (the page shows it in place), becomes the
    page's error message."""
    outcome = Outcome()
    try:
        yield outcome
    except LeadFlowError as exc:
        outcome.error = exc
        if message:
            messages.error(request, exc.message)


def field_errors(error: LeadFlowError) -> dict[str, str]:
    """A refusal as a form's errors by field: those the service listed (`errors`, in
    `extra` or, like scoring's DefinitionError, on the error), or its one message under
    its field (`__all__` when it names none)."""
    listed = getattr(error, "errors", None) or error.extra.get("errors")
    return dict(listed) if listed else {error.field or "__all__": error.message}


def refused_partial(
    request: HttpRequest, template: str, context: dict, error: LeadFlowError, *, key: str = "error"
) -> HttpResponse:
    """The htmx answer to a refused action: the partial again, with the error's message
    under `key`, and the error's status (4xx; 400 for anything else)."""
    status = error.status_code if 400 <= error.status_code < 500 else 400
    return render(request, template, {**context, key: error.message}, status=status)
