"""Permissions of the leads API (roles in `leads.roles`)."""

from rest_framework import permissions

from leads import roles


class MarketingWrites(permissions.BasePermission):
    """Everyone signed in reads; marketing (and admins) create."""

    message = "Only marketing (or an admin) may change this."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or roles.sees_all_leads(request.user)


class CanCapture(permissions.BasePermission):
    message = "Only marketing (or an admin) may capture leads through the API."

    def has_permission(self, request, view):
        return view.action != "create" or roles.can_capture(request.user)


class MarketingOnly(permissions.BasePermission):
    """Marketing (and admins) only, reads included: a person's data export and erasure."""

    message = "Only marketing (or an admin) may do this."

    def has_permission(self, request, view):
        return roles.sees_all_leads(request.user)
