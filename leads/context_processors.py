from leads import roles as role_rules


def roles(request):
    """What the navigation needs to know about the user's role."""
    groups = role_rules.group_names(request.user)
    return {
        "is_marketing": role_rules.sees_all_leads(request.user),
        "is_sales": bool(groups & {role_rules.SALES, role_rules.MANAGER}),
        # The dashboards (a read-only app above this one) are for managers and marketing.
        "sees_dashboards": role_rules.sees_all_leads(request.user) or role_rules.MANAGER in groups,
    }
