from leads import roles as role_rules


def roles(request):
    """What the navigation needs to know about the user's role."""
    return {"is_marketing": role_rules.sees_all_leads(request.user)}
