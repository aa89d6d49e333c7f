"""Batch capture: many leads at once, each as `capture_lead` would have captured it.

`capture_batch` gives the outcome of capturing the items one by one in order — the
same leads, identities, filled fields, custom values and campaigns; rows of the batch
that identify one person end as one lead — through the import's set-based merge
(`leads.services.imports.merge`, built from the capture spec): the items are COPYed
into its staging table, matched with `match_rows`'s passes and written with its fill
and insert. What differs from an import:

- a refused item (an external id of a lead with another email, a new lead in a stage
  no lead starts in) is that item's error and the others still go in. Refused items
  stay staged, matched but giving their lead nothing (`excluded`), until the refusals
  agree with the matching they cause: item k's outcome depends only on the items
  before it, so a set of refusals that the matching confirms is the one-by-one one;
- a new lead starts in its first item's `stage` (New or Nurturing);
- an item with the email of a person erased at their request is skipped with its
  message (`erased.skip_message`): an old list must not bring them back;
- one `captured` entry per lead the batch touched (channel `api`), and the one
  announcement `leads_changed_in_bulk` with the lead ids.

When the set-based write meets an identity a concurrent capture just took (or items
that chain past `merge.MAX_PASSES`), the batch is captured again item by item with
`capture_lead` — the rule the set-based path follows, so either way the answer is the
same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from leads import hooks
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import Source
from leads.services import erased, identity
from leads.services.capture import capture_lead
from leads.services.imports import merge
from leads.services.imports.rows import STAGED
from leads.services.stages import INITIAL, check_initial

# The SQL names the import's temp tables only; values travel as parameters.
# ruff: noqa: S608

# The temp tables of a batch's merge (the import's, on the same connection).
_TEMP_TABLES = (
    merge.STAGING, "import_groups", "import_groups_multi", "import_new", "import_fill",
    "import_fill_multi", "import_changes", "import_known", "import_ids", "import_match",
)  # fmt: skip
_STAGED_NAMES = {name for name, _ in STAGED} | {"campaign", "stage"}


@dataclass(frozen=True)
class BatchResult:
    """One item's outcome: `lead_id` and `created` (201/200), or `error` (400)."""

    lead_id: int | None = None
    created: bool = False
    error: LeadFlowError | None = None


def capture_batch(
    *, items: list[dict[str, Any]], by=None, channel: str = "api", now: datetime
) -> list[BatchResult]:
    """Capture `items` (validated, normalised values as `capture_lead` takes them) as
    capturing them one by one in order would; results in input order."""
    if not items:
        return []
    # An old list must not bring back a person erased at their request.
    erasures = erased.erasures_of(item.get("email") for item in items)
    if erasures:
        kept = [i for i, item in enumerate(items) if item.get("email") not in erasures]
        captured = capture_batch(items=[items[i] for i in kept], by=by, channel=channel, now=now)
        outcomes = dict(zip(kept, captured, strict=True))
        return [
            outcomes.get(i) or BatchResult(error=ErasedPerson(erasures[item["email"]]))
            for i, item in enumerate(items)
        ]
    with transaction.atomic():
        if all(_stageable(item) for item in items):
            try:
                with transaction.atomic():
                    results = _set_based(items, by=by, channel=channel, now=now)
            except (IntegrityError, LeadFlowError):
                results = None  # taken meanwhile, or chained too deep: one by one
            finally:
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TEMP_TABLES)}")
        else:
            results = None
        if results is None:
            results = _one_by_one(items, by=by, channel=channel, now=now)
        lead_ids = sorted({r.lead_id for r in results if r.lead_id is not None})
        if lead_ids:
            hooks.announce("leads_changed_in_bulk", lead_ids=lead_ids, now=now)
    return results


class ErasedPerson(LeadFlowError):
    """An item with the email of a person erased at their request: skipped."""

    def __init__(self, erasure):
        super().__init__(erased.skip_message(erasure), field="email")


def _stageable(item: dict[str, Any]) -> bool:
    """Whether the staging table carries every value of the item."""
    return all(name in _STAGED_NAMES or value in (None, "") for name, value in item.items())


def _staged(item: dict[str, Any]) -> list:
    """The item as `ParsedRow.staged()` writes an import's row (None = NULL; empty text
    is not staged; False is a value), then its stage."""
    campaign = item.get("campaign")
    custom = {k: v for k, v in (item.get("custom") or {}).items() if v is not None}
    derived = {
        "source": item.get("source") or Source.OTHER,
        "campaign_id": campaign.pk if campaign is not None else None,
        "company_domain": identity.derived_company_domain(item) or None,
        "custom": json.dumps(custom, separators=(",", ":")) if custom else None,
    }
    out = []
    for name, kind in STAGED:
        value = derived[name] if name in derived else item.get(name)
        if value == "":
            value = None
        elif kind == "boolean" and value is not None:
            value = "t" if value else "f"
        out.append(value)
    out.append(item.get("stage") or "new")
    return out


def _set_based(items, *, by, channel, now) -> list[BatchResult]:
    by_id = getattr(by, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(_TEMP_TABLES)}")
        merge.create_staging(cursor, extra=(("stage", "text"),))
        writer = merge.StagingWriter(cursor.cursor, extra=("stage",))
        for rn, item in enumerate(items, start=1):
            identity.require_identity(item)
            writer.add(rn, _staged(item))
        writer.flush()
        merge.start_matching(cursor, probe=True)
        # Like capture_lead's SELECT … FOR UPDATE: the leads the items name stay as
        # matched until the batch commits.
        cursor.execute(
            "SELECT l.id FROM leads_lead l JOIN import_known k ON k.id = l.id "
            "ORDER BY l.id FOR UPDATE OF l"
        )
        refused = _settle_refusals(cursor, now=now, count=len(items))
        cursor.execute(f"DELETE FROM {merge.STAGING} WHERE excluded")
        merge.drop_held_identities(cursor)
        merge.insert_new_leads(
            cursor, job_id=None, by_id=by_id, now=now, channel=channel, stage="stage"
        )
        merge.fill_existing_leads(cursor, job_id=None, by_id=by_id, now=now, channel=channel)
        cursor.execute(
            f"SELECT s.rn, coalesce(n.lead_id, s.target), s.target = -s.rn FROM {merge.STAGING} s "
            "LEFT JOIN import_new n ON n.target = s.target"
        )
        written = {
            rn: BatchResult(lead_id=lead, created=new) for rn, lead, new in cursor.fetchall()
        }
        cursor.execute("SELECT target, lead_id FROM import_new")
        new_ids = dict(cursor.fetchall())
    return [
        written.get(rn) or BatchResult(error=_refusal(refused[rn], new_ids))
        for rn in range(1, len(items) + 1)
    ]


def _settle_refusals(cursor, *, now: datetime, count: int) -> dict[int, merge.Conflict | str]:
    """Match until the refused items are exactly those the matching refuses, and
    return them (rn → the conflict, or the stage a new lead cannot start in).

    An item's outcome depends on the items before it only, so the first item where
    the refusals assumed and found differ is decided by then: take the found ones
    from it on and match again (usually once: most batches refuse nothing)."""
    assumed: set[int] = set()
    while True:
        merge.settle(cursor, now=now, probe=True)
        found: dict[int, merge.Conflict | str] = {
            c.rows[0]: c for c in merge.conflicts(cursor, limit=count)
        }
        cursor.execute(
            f"SELECT rn, stage FROM {merge.STAGING} WHERE target = -rn AND stage <> ALL(%s)",
            [list(INITIAL)],
        )
        found.update(cursor.fetchall())
        differ = assumed.symmetric_difference(found)
        if not differ:
            return found
        first = min(differ)
        assumed = {rn for rn in assumed if rn < first} | {rn for rn in found if rn >= first}
        cursor.execute(
            f"UPDATE {merge.STAGING} SET excluded = (rn = ANY(%s)) "
            "WHERE excluded IS DISTINCT FROM (rn = ANY(%s))",
            [sorted(assumed), sorted(assumed)],
        )


def _refusal(reason: merge.Conflict | str, new_ids: dict[int, int]) -> LeadFlowError:
    """The error `capture_lead` raises for the item (naming the lead by its id, also
    one an earlier item of the batch created)."""
    if isinstance(reason, str):  # a stage no new lead starts in
        try:
            check_initial(reason)
        except LeadFlowError as exc:
            return exc
        raise AssertionError(f"{reason!r} was refused as a first stage")
    lead = reason.lead if reason.lead > 0 else new_ids[reason.lead]
    message = identity.conflict_message(reason.field, reason.value, lead)
    return IdentityConflict(message, field=reason.field)


def _one_by_one(items, *, by, channel, now) -> list[BatchResult]:
    results = []
    with hooks.muted():  # announced once, by the caller
        for item in items:
            try:
                result = capture_lead(data=item, by=by, channel=channel, now=now)
            except LeadFlowError as exc:
                results.append(BatchResult(error=exc))
            else:
                results.append(BatchResult(lead_id=result.lead.pk, created=result.created))
    return results
