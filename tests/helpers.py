"""Test data made through the product's own services (no `.save()` with a rule beside it)."""

from itertools import count

from leads.services import assign_owner, capture_lead
from tests.conftest import CURRENT_TIME

_seq = count(1)


def make_lead(*, owner=None, now=CURRENT_TIME, **fields):
    n = next(_seq)
    data = {"email": f"lead{n}@example.com", "first_name": "Lead", "last_name": f"No{n}", **fields}
    lead = capture_lead(data=data, channel="test", now=now).lead
    if owner is not None:
        lead = assign_owner(lead_id=lead.pk, owner=owner, now=now)
    return lead
