"""The outbox: failed sends (with a retry button) and deferred ones (with why they
wait and until when), paginated."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles
from nurturing import selectors
from nurturing.models import Send
from nurturing.services import sending


@roles.marketing_required
def outbox(request):
    view = request.GET.get("view", "failed")
    if view not in selectors.OUTBOX_VIEWS:
        view = "failed"
    paginator = Paginator(selectors.outbox(view), selectors.OUTBOX_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "nurturing/outbox.html",
        {
            "view": view,
            "views": [(key, label) for key, (label, _test) in selectors.OUTBOX_VIEWS.items()],
            "counts": selectors.outbox_counts(),
            "page": page,
            "now": timezone.now(),
        },
    )


@roles.marketing_required
@require_POST
def retry(request, pk: int):
    send = get_object_or_404(Send, pk=pk)
    if sending.retry_failed(send_id=send.pk, now=timezone.now()):
        messages.success(request, f"Queued the email to {send.lead} again: it goes out shortly.")
    else:
        messages.info(request, "That email is not failed any more; nothing was changed.")
    return redirect(f"{reverse('nurture:outbox')}?view=failed")
