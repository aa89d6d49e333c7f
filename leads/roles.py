"""The roles of the public contract: Django groups `marketing`, `sales`, `manager`."""

from __future__ import annotations

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


def can_capture(user) -> bool:
    """Capture answers with the existing lead, so only roles that see every lead may do it."""
    return sees_all_leads(user)
