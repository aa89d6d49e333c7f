"""What scoring holds about a person, for `leads.personal_data`: their score history.
Scores name nobody once the lead is anonymised, so erasing keeps them (the lead's
scores stay on its row too); an erased lead is never scored again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leads import personal_data
from leads.personal_data import Person
from scoring.models import ScorePoint


def export_person(person: Person) -> dict[str, Any]:
    points = ScorePoint.objects.filter(lead_id__in=person.lead_ids)
    return {
        "score_history": list(
            points.values("lead_id", "at", "fit", "engagement", "score", "grade", "model_version")
        )
    }


def erase_person(person: Person, *, now: datetime) -> None:
    """Nothing to remove: score points are numbers about an anonymous lead."""


def register() -> None:
    personal_data.register("scoring", export=export_person, erase=erase_person)
