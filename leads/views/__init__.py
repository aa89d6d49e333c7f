"""Leads' pages, one module per page family; `leads/urls.py` maps them.

Pages validate input with the API's serializers and change state only through
`leads.services`, so a page and the API can never disagree on a rule.
"""
