"""What the predictive model reads of a lead, as one set-based query a span of leads.

Columns: the lead's fields and BANT, its source and campaign, its custom fields
(numbers, choices, yes/no, dates; text is left out), and its behaviour — event counts
by type, events in the 30 days before it was judged and days since its last event. A
lead with a known outcome is judged as of that outcome (its last move to won, lost or
disqualified), so its behaviour after the outcome is not read; an open lead as of now.

A `Spec` names the columns a model was trained on; scoring reads exactly those again.
A custom field deleted after training reads as empty (its values went with it), which
the model was trained to take (missing values are imputed, unknown choices ignored).
"""

# SQL here is assembled from this module's own fragments; values travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
from django.db import connection

from leads.models import EVENT_TYPES, Activity, CustomField
from leads.normalise import FREE_MAIL_DOMAINS
from scoring import outcomes
from scoring.conditions import Sql

RECENT_DAYS = 30
SENIORITY = r"""(CASE
    WHEN l.title ~* '\m(chief|ceo|cto|cfo|cmo|coo|founder|owner|president)\M' THEN 'C-level or founder'
    WHEN l.title ~* '\m(vp|svp|evp|vice president)\M' THEN 'VP'
    WHEN l.title ~* '\m(head|director)\M' THEN 'Head or director'
    WHEN l.title ~* '\mmanager\M' THEN 'Manager'
    WHEN l.title ~* '\mstudent\M' THEN 'Student'
    WHEN l.title = '' THEN ''
    ELSE 'Other title' END)"""  # noqa: E501

# name → (SQL over `l`, the judging instant `x.as_of` and the events `e`; label).
# Numbers are NaN when unknown, text '' (the pipeline imputes and encodes them).
NUMBERS: dict[str, tuple[str, str]] = {
    "company_size": ("l.company_size::float8", "Company size"),
    "budget": ("l.budget::float8", "Budget (BANT)"),
    "authority": ("CASE WHEN l.authority THEN 1.0 WHEN NOT l.authority THEN 0.0 END",
                  "Decision maker (BANT)"),
    "need": ("(l.need <> '')::int::float8", "Need known (BANT)"),
    "timeline": ("(l.timeline <> '')::int::float8", "Timeline known (BANT)"),
    "free_mail": ("(split_part(l.email, '@', 2) = ANY(%s))::int::float8", "Free-mail address"),
    **{
        f"events.{kind}": (f"e.n{i}::float8", f"{Activity.Kind(kind).label} events")
        for i, kind in enumerate(EVENT_TYPES)
    },
    "events.recent": ("e.recent::float8", f"Events in the last {RECENT_DAYS} days"),
    "events.since_last": ("e.since_last", "Days since the last event"),
}  # fmt: skip
# Numbers that are yes (1) or no (0), and how a higher value of the others reads.
FLAGS = {"authority", "need", "timeline", "free_mail"}
HIGHER = {
    "company_size": "Larger company",
    "budget": "Larger budget (BANT)",
    "events.since_last": "Longer since the last event",
}
TEXTS: dict[str, tuple[str, str]] = {
    "source": ("l.source", "Source"),
    "campaign": ("COALESCE(c.code, '')", "Campaign"),
    "industry": ("l.industry", "Industry"),
    "country": ("l.country", "Country"),
    "consent": ("l.consent_status", "Email consent"),
    "seniority": (SENIORITY, "Seniority"),
}
_PARAMS = {"free_mail": lambda: [sorted(FREE_MAIL_DOMAINS)]}
# Custom field types the model reads, and as what.
CUSTOM_KINDS = {
    CustomField.Type.NUMBER: "number",
    CustomField.Type.DATE: "number",
    CustomField.Type.CHOICE: "text",
    CustomField.Type.BOOL: "text",
}


@dataclass
class Spec:
    """The columns a model reads: numbers first, then texts (each a name of NUMBERS or
    TEXTS, or `custom.<name>`), and the custom fields' types as they were at training."""

    numbers: list[str]
    texts: list[str]
    custom: dict[str, dict] = field(default_factory=dict)  # name → {label, type}

    @classmethod
    def every_column(cls) -> Spec:
        """Every column there is now (training starts from it and drops the useless)."""
        custom = {
            f.name: {"label": f.label, "type": f.type}
            for f in CustomField.objects.filter(type__in=list(CUSTOM_KINDS)).order_by("name")
        }
        numbers = [*NUMBERS]
        texts = [*TEXTS]
        for name, info in custom.items():
            kind = CUSTOM_KINDS[info["type"]]
            (numbers if kind == "number" else texts).append(f"custom.{name}")
        return cls(numbers=numbers, texts=texts, custom=custom)

    @classmethod
    def from_json(cls, data: dict) -> Spec:
        return cls(numbers=list(data["numbers"]), texts=list(data["texts"]),
                   custom=dict(data.get("custom", {})))  # fmt: skip

    def as_json(self) -> dict:
        return asdict(self)

    @property
    def columns(self) -> list[str]:
        return [*self.numbers, *self.texts]

    def label(self, name: str) -> str:
        if name.startswith("custom."):
            return self.custom.get(name[7:], {}).get("label", name[7:])
        return (NUMBERS.get(name) or TEXTS[name])[1]

    def higher(self, name: str) -> str:
        """What a higher value of number `name` reads as, for the learned effects."""
        label = self.label(name)
        if name in FLAGS:
            return label
        if name in HIGHER:
            return HIGHER[name]
        if name.startswith("custom.") and self.custom[name[7:]]["type"] == CustomField.Type.DATE:
            return f"Longer since {label}"
        return (
            f"More {label[:1].lower() + label[1:]}"
            if name.startswith("events.")
            else (f"Higher {label}")
        )

    def kept(self, names: set[str]) -> Spec:
        return Spec(
            numbers=[n for n in self.numbers if n in names],
            texts=[n for n in self.texts if n in names],
            custom={k: v for k, v in self.custom.items() if f"custom.{k}" in names},
        )

    def _sql(self, name: str) -> Sql:
        if not name.startswith("custom."):
            text, _label = NUMBERS.get(name) or TEXTS[name]
            return Sql(text, _PARAMS.get(name, list)())
        key = name[7:]
        kind = self.custom[key]["type"]
        if kind == CustomField.Type.NUMBER:
            return Sql(
                "(CASE WHEN jsonb_typeof(l.custom -> %s) = 'number' "
                "THEN (l.custom ->> %s)::float8 END)",
                [key, key],
            )
        if kind == CustomField.Type.DATE:
            return Sql(
                "(CASE WHEN l.custom ->> %s ~ '^\\d{4}-\\d{2}-\\d{2}$' THEN "
                "date_part('epoch', x.as_of - (l.custom ->> %s)::date) / 86400 END)",
                [key, key],
            )
        if kind == CustomField.Type.BOOL:
            return Sql(
                "(CASE WHEN jsonb_typeof(l.custom -> %s) = 'boolean' "
                "THEN (CASE WHEN (l.custom ->> %s)::boolean THEN 'yes' ELSE 'no' END) END)",
                [key, key],
            )
        return Sql("(l.custom ->> %s)", [key])


@dataclass
class Frame:
    """Leads as arrays: ids, the feature matrix (object: numbers as floats, NaN when
    unknown; texts as str, '' when unknown) in the spec's column order, and — for
    leads with a known outcome — the outcome, when it was known (epoch seconds) and the
    rule score (fit + engagement: every point the rules give)."""

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray | None = None
    when: np.ndarray | None = None
    rule: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


def read(
    spec: Spec, *, where: Sql, now: datetime, labelled: bool, span: tuple[int, int] | None = None
) -> Frame:
    """The leads matching `where` (SQL over `l`), as a Frame. `labelled`: only leads with
    a known outcome, with it, each judged as of its outcome; else every lead matching,
    judged as of `now`. An unlabelled read of a `span` of ids (all within `where`) counts
    the span's events in one grouped pass instead of lead by lead."""
    label = outcomes.label_sql()
    if labelled:
        # The lead's last stage change: its outcome (won, lost, disqualified), its move
        # back to nurturing when sales rejected it, or an import's first stage; a lead
        # with no recorded stage at all, as of now.
        as_of = Sql(
            """LEAST(%s::timestamptz, COALESCE((SELECT max(h.changed_at)
                FROM leads_stagechange h WHERE h.lead_id = l.id), %s::timestamptz))""",
            [now, now],
        )
    else:
        as_of = Sql("%s::timestamptz", [now])
    columns = [spec._sql(name) for name in spec.columns]
    selected = [
        f"COALESCE({c.text}, 'NaN'::float8)" if name in spec.numbers else f"COALESCE({c.text}, '')"
        for name, c in zip(spec.columns, columns, strict=True)
    ]
    extra = f", {label}, date_part('epoch', x.as_of), l.fit + l.engagement" if labelled else ""
    counts = ", ".join(
        f"count(*) FILTER (WHERE a.kind = %s) AS n{i}" for i in range(len(EVENT_TYPES))
    )
    kinds = [str(kind) for kind in EVENT_TYPES]
    aggregates = f"""{counts},
        count(*) FILTER (WHERE a.occurred_at > {{as_of}} - %s * interval '1 day') AS recent,
        date_part('epoch', {{as_of}} - max(a.occurred_at)) / 86400 AS since_last"""
    if span is not None and not labelled:
        events = Sql(
            f"""LEFT JOIN (SELECT a.lead_id, {aggregates.format(as_of="%s::timestamptz")}
                FROM leads_activity a WHERE a.lead_id BETWEEN %s AND %s
                AND a.kind = ANY(%s) AND a.occurred_at <= %s GROUP BY a.lead_id
            ) e ON e.lead_id = l.id""",
            [*kinds, now, RECENT_DAYS, now, *span, kinds, now],
        )
    else:
        events = Sql(
            f"""LEFT JOIN LATERAL (SELECT {aggregates.format(as_of="x.as_of")}
                FROM leads_activity a
                WHERE a.lead_id = l.id AND a.kind = ANY(%s) AND a.occurred_at <= x.as_of
            ) e ON true""",
            [*kinds, RECENT_DAYS, kinds],
        )
    sql = f"""
        SELECT l.id, {", ".join(selected)} {extra}
        FROM leads_lead l
        LEFT JOIN leads_campaign c ON c.id = l.campaign_id
        CROSS JOIN LATERAL (SELECT {as_of.text} AS as_of) x
        {events.text}
        WHERE l.merged_into_id IS NULL AND ({where.text}) {"AND " + label + " IS NOT NULL" if labelled else ""}
        ORDER BY l.id
    """  # noqa: E501
    params = [
        *(p for c in columns for p in c.params),
        *as_of.params,
        *events.params,
        *where.params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(spec.columns)
    if not rows:
        return Frame(ids=np.empty(0, dtype=np.int64), X=np.empty((0, width), dtype=object),
                     y=np.empty(0, dtype=np.int8) if labelled else None,
                     when=np.empty(0) if labelled else None,
                     rule=np.empty(0) if labelled else None)  # fmt: skip
    table = np.array(rows, dtype=object)
    frame = Frame(ids=table[:, 0].astype(np.int64), X=table[:, 1 : 1 + width])
    if labelled:
        frame.y = table[:, 1 + width].astype(np.int8)
        frame.when = table[:, 2 + width].astype(float)
        frame.rule = table[:, 3 + width].astype(float)
    return frame


def concat(frames: list[Frame], width: int) -> Frame:
    """Frames of several spans as one."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return Frame(ids=np.empty(0, dtype=np.int64), X=np.empty((0, width), dtype=object),
                     y=np.empty(0, dtype=np.int8), when=np.empty(0), rule=np.empty(0))  # fmt: skip

    def joined(name):
        parts = [getattr(f, name) for f in frames]
        return None if parts[0] is None else np.concatenate(parts)

    return Frame(ids=joined("ids"), X=np.vstack([f.X for f in frames]), y=joined("y"),
                 when=joined("when"), rule=joined("rule"))  # fmt: skip
