"""Nurturing's public pages: unsubscribe (RFC 8058), the open pixel, tracked clicks.

None needs a login; every token is signed (nurturing.services.links). GET never changes
anything on the unsubscribe page (link scanners follow GETs): it shows one button; a
POST — the button, or a mail provider's one-click `List-Unsubscribe=One-Click` —
unsubscribes at once and answers 200, without a redirect, as often as it comes.
"""

from __future__ import annotations

import base64

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from nurturing.services import links, recipients

# A transparent 1×1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@csrf_exempt  # mail providers post the one-click body without a session or a token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    found = links.read_unsubscribe(token)
    if found is None:
        return render(request, "nurturing/unsubscribe.html", {"invalid": True}, status=404)
    send_id, email = found
    if request.method == "POST":
        recipients.unsubscribe(send_id=send_id, email=email, now=timezone.now())
        return render(request, "nurturing/unsubscribe.html", {"done": True, "email": email})
    return render(request, "nurturing/unsubscribe.html", {"email": email})


@never_cache
@require_GET
def opened(request, token: str):
    send_id = links.read_open(token)
    if send_id is not None:
        recipients.record_open(send_id=send_id, now=timezone.now())
    return HttpResponse(PIXEL, content_type="image/gif")


@never_cache
@require_GET
def clicked(request, token: str):
    click = links.read_click(token)
    if click is None:
        return HttpResponse("This link is not valid.", status=404, content_type="text/plain")
    recipients.record_click(send_id=click.send_id, now=timezone.now())
    return HttpResponseRedirect(click.url)
