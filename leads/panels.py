"""Panels that apps add to a lead's page, without `leads` importing them.

An app registers its panel in its `AppConfig.ready()` (scoring: its score; later
nurturing: the emails, handoff: the SLA card):

    panels.register("score", template="scoring/lead_panel_loader.html",
                    context=score_panel, order=10)

`context(lead, request, now)` returns the panel's template context, or None to leave
the panel out for this lead or user. The lead page renders every registered panel in
`order` (then by name). A panel's context runs inside the page's request: keep it to a
query or two, or render a placeholder that loads the rest with htmx (as scoring does),
so the page's query count stays bounded however many apps add panels.

Registration is per process and idempotent (the same name replaces its panel), like
`leads.hooks`: every web process runs every app's `ready()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

PanelContext = Callable[[object, HttpRequest, datetime], dict | None]


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: PanelContext
    order: int


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    html: SafeString


_panels: dict[str, Panel] = {}


def register(name: str, *, template: str, context: PanelContext, order: int = 100) -> None:
    """Add (or replace) the lead-page panel `name`."""
    _panels[name] = Panel(name=name, template=template, context=context, order=order)


def unregister(name: str) -> None:
    """Remove a panel (tests that register their own)."""
    _panels.pop(name, None)


def registered() -> list[Panel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, panel.name))


def render_panels(lead, request: HttpRequest, *, now: datetime) -> list[RenderedPanel]:
    """Every registered panel that has something to show for `lead` to this user, in
    order, rendered."""
    shown = []
    for panel in registered():
        context = panel.context(lead, request, now)
        if context is not None:
            html = render_to_string(panel.template, {"lead": lead, **context}, request=request)
            shown.append(RenderedPanel(name=panel.name, html=html))
    return shown
