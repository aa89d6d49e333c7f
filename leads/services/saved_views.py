"""Saved views: a user's named filters of the lead list."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied

from leads.exceptions import LeadFlowError
from leads.models import SavedView

NAME_LENGTH = SavedView._meta.get_field("name").max_length
QUERY_LENGTH = SavedView._meta.get_field("query").max_length


def save_view(*, user, name: str, query: str, now: datetime) -> SavedView:
    """Save the list's filter (its query string) as `user`'s view `name`; a view of the
    same name is replaced, not doubled."""
    name = name.strip()[:NAME_LENGTH]
    if not name:
        raise LeadFlowError("Give the view a name.", field="name")
    if len(query) > QUERY_LENGTH:
        raise LeadFlowError("That filter is too long to save as a view.", field="query")
    view, _ = SavedView.objects.update_or_create(
        user=user,
        name=name,
        defaults={"query": query},
        create_defaults={"query": query, "created_at": now},
    )
    return view


def delete_view(*, view: SavedView, by) -> None:
    """Delete one of `by`'s views (only its owner may)."""
    if view.user_id != by.pk:
        raise PermissionDenied("Only its owner may delete a saved view.")
    view.delete()
