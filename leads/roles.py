"""The roles of the public contract: Django groups `marketing`, `sales`, `manager`."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

MARKETING = "marketing"
SALES = "sales"
MANAGER = "manager"
ALL = (MARKETING, SALES, MANAGER)


def group_names(user) -> set[str]:
    """The user's role groups, cached on the user object for the request."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_leadflow_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._leadflow_groups = cached
    return cached


def sees_all_leads(user) -> bool:
    return user.is_authenticated and (user.is_superuser or MARKETING in group_names(user))


def can_assign(user) -> bool:
    """Marketing, admins and managers hand leads to reps; reps do not."""
    return sees_all_leads(user) or MANAGER in group_names(user)


def can_move_sales_stages(user) -> bool:
    """Moves from SAL on are handoff's; marketing, managers and admins may make them by hand."""
    return user is not None and can_assign(user)


def marketing_required(view):
    """A page for marketing (and admins) only: others get 403, visitors the login page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not sees_all_leads(request.user):
            raise PermissionDenied("Only marketing (or an admin) may do this.")
        return view(request, *args, **kwargs)

    return wrapper


def can_capture(user) -> bool:
    """Capture answers with the existing lead, so only roles that see every lead may do it."""
    return sees_all_leads(user)
