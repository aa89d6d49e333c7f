"""The predictive score: learned from outcomes, evaluated honestly on held-out leads
beside the rule score, activated only when it beats it, and never crashing on odd data.

The data is bench/predictive.py's generator: a known signal (referrals, pricing page
views and the "enterprise" plan raise the odds, paid search lowers them), a rule score
of noise, or pure noise outcomes."""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection

from bench.predictive import populate
from leads.models import CustomField, Lead
from leads.services import custom_fields, record_event
from leads.services.edits import define_custom_field
from scoring.models import PredictiveModel, TrainingRun
from scoring.predictive import learn
from scoring.predictive.features import Frame, Spec
from scoring.services import predictive
from tests.helpers import committed, make_lead, race
from tests.scoring_helpers import activate

pytestmark = pytest.mark.django_db


def _train(now):
    run = predictive.request_training(by=None, now=now)
    return predictive.run_training(run_id=run.pk, now=now)


def test_a_known_signal_is_recovered_well_above_the_rule_score(now):
    populate(2400, labelled=2000, now=now)
    run = _train(now)
    model = run.model
    assert run.status == TrainingRun.Status.DONE, run.message
    assert model.split == "stratified"  # an import's outcomes share their date
    assert model.auc > 0.75 and model.auc > model.rule_auc + 0.15, (model.auc, model.rule_auc)
    assert model.is_active and model.outcomes == 2000 and model.held_out == 500
    words = [f["feature"] for f in model.factors[:6]]
    assert "Source is Referral" in words and "More pricing page view events" in words, words
    referral = next(f for f in model.factors if f["feature"] == "Source is Referral")
    assert referral["weight"] > 0 and referral["odds"] > 1
    assert sum(b["count"] for b in model.calibration) == model.held_out
    # Every open lead is scored (the 400 without an outcome), 0-100.
    open_leads = Lead.objects.filter(converted__isnull=True)
    assert not open_leads.filter(predictive_score__isnull=True).exists()
    scores = list(open_leads.values_list("predictive_score", flat=True))
    assert min(scores) >= 0 and max(scores) <= 100 and len(set(scores)) > 10
    # The closed-loop dashboard shows the model's view: every scored open lead in a band.
    from datetime import date

    from dashboards.selectors import closed_loop
    from dashboards.selectors.filters import Filters

    view = closed_loop.predictive_view(Filters(start=date(2000, 1, 1), end=now.date()))
    scored = list(Lead.objects.filter(predictive_score__isnull=False)
                  .values_list("predictive_score", flat=True))  # fmt: skip
    assert sum(r["leads"] for r in view.rows) == len(scored)
    high = sum(1 for s in scored if s >= 80)
    assert view.rows[0]["band"] == "80–100" and view.rows[0]["leads"] == high


def test_pure_noise_reports_an_auc_near_a_coin_and_stays_inactive(now):
    populate(2000, labelled=2000, now=now, signal=False)
    run = _train(now)
    model = run.model
    assert run.status == TrainingRun.Status.DONE
    assert abs(model.auc - 0.5) < 0.07, model.auc
    assert not model.is_active and "Not used" in model.note and run.message == model.note
    assert not Lead.objects.filter(predictive_score__isnull=False).exists()


def test_below_the_minimum_it_refuses_and_says_what_it_needs(now):
    populate(90, labelled=90, now=now)
    run = _train(now)
    assert run.status == TrainingRun.Status.REFUSED and run.model is None
    assert "at least 50 leads that converted and 50 that did not" in run.message
    assert not PredictiveModel.objects.exists()


def test_with_no_outcomes_at_all_it_refuses_without_crashing(now):
    make_lead(now=now)
    run = _train(now)
    assert run.status == TrainingRun.Status.REFUSED
    assert "there are 0 and 0" in run.message


def _field(name, type_):
    return define_custom_field(name=name, label=name.title(), type=type_, choices=[])


def test_a_column_of_one_value_and_an_empty_column_are_left_out(now):
    populate(1200, labelled=1200, now=now)
    _field("seats", "number")  # set to 5 on every lead: no information
    _field("renewal", "date")  # set on no lead
    _field("partner", "bool")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead SET custom = custom || jsonb_build_object('seats', 5, "
            "'partner', id % 2 = 0)"
        )
    run = _train(now)
    ignored = {c["column"]: c["why"] for c in run.model.ignored}
    assert ignored["custom.seats"] == "the same value for every lead"
    assert ignored["custom.renewal"] == "empty for every lead"
    assert "custom.partner" not in ignored  # yes/no, both values: kept
    assert ignored["industry"] == "the same value for every lead"  # the generator's
    assert "custom.seats" not in run.model.spec["numbers"]
    assert run.model.is_active


def test_a_custom_field_deleted_after_training_still_scores(now):
    populate(1400, labelled=1200, now=now)
    assert _train(now).model.is_active
    assert "custom.plan" in predictive.active().spec["texts"]
    lead = Lead.objects.filter(converted__isnull=True).first()
    custom_fields.delete_custom_field(name="plan", now=now)
    assert not CustomField.objects.filter(name="plan").exists()
    assert predictive.score_open_leads(now=now) == 1400  # every lead in an open stage
    explained = predictive.explain(Lead.objects.get(pk=lead.pk), now=now)
    assert 0 <= explained["score"] <= 100
    assert all(f["words"] for f in explained["factors"])


def test_dated_outcomes_are_split_in_time_and_judged_on_the_latest(now):
    populate(1200, labelled=1200, now=now)
    with connection.cursor() as cursor:  # won and lost over 120 days, as sales records them
        cursor.execute(
            "UPDATE leads_lead SET stage = CASE WHEN converted THEN 'won' ELSE 'lost' END, "
            "converted = NULL"
        )
        cursor.execute(
            "INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason) "
            "SELECT id, 'opportunity', stage, %s - (id %% 120) * interval '1 day', '' "
            "FROM leads_lead",
            [now],
        )
    model = _train(now).model
    assert model.split == "time"
    assert 0 < model.held_out <= 600 and model.auc > model.rule_auc + 0.1
    assert not Lead.objects.filter(predictive_score__isnull=False).exists()  # all closed


def test_a_lead_that_changes_is_scored_again(now):
    populate(1400, labelled=1200, now=now)
    _train(now)
    lead = Lead.objects.filter(converted__isnull=True, source="web_form").first()
    before = lead.predictive_score
    with committed():
        for i in range(6):
            record_event(lead_id=lead.pk, type="pricing_page_view", occurred_at=now,
                         key=f"p{i}", now=now)  # fmt: skip
    assert predictive.score_pending(now=now + timedelta(seconds=5)) >= 1
    lead.refresh_from_db()
    assert lead.predictive_score > before
    # The leads an import brings (announced without ids) are scored too, not a day later.
    from tests.test_imports import run_csv

    with committed():
        job = run_csv("email,first_name,source\nnew1@example.org,Nia,referral\n"
                      "new2@example.org,Ole,web_form\n", by=None)  # fmt: skip
    assert job.status == "done", job.errors
    assert predictive.score_pending(now=now + timedelta(seconds=10)) >= 2
    assert not Lead.objects.filter(import_job=job, predictive_score__isnull=True).exists()


def test_a_training_under_way_is_not_started_twice(now):
    first = predictive.request_training(by=None, now=now)
    assert predictive.request_training(by=None, now=now).pk == first.pk
    assert TrainingRun.objects.count() == 1


def test_the_suggestions_name_a_source_the_rules_underrate(now):
    activate()  # its rules give referrals nothing
    populate(2000, labelled=2000, now=now)
    model = _train(now).model
    by_key = {s["key"]: s for s in model.suggestions}
    referral = by_key["source:referral"]
    assert referral["suggested"] >= 10 and "Source Referral" in referral["text"]
    assert referral["change"]["rule"]["field"] == "source"


def test_the_learner_refuses_below_the_minimum_of_either_kind():
    spec = Spec(numbers=["company_size"], texts=[])
    y = np.array([1] * 49 + [0] * 400, dtype=np.int8)
    frame = Frame(ids=np.arange(len(y)), X=np.ones((len(y), 1), dtype=object), y=y,
                  when=np.zeros(len(y)), rule=np.zeros(len(y)))  # fmt: skip
    with pytest.raises(learn.TooFewOutcomes, match="there are 49 and 400"):
        learn.train(spec, frame)


@pytest.mark.django_db(transaction=True)
def test_one_of_two_workers_claims_a_run_and_a_bulk_scoring_builds_the_sort_index_again(
    now, monkeypatch
):
    """Both need their own connections (committed rows), so they share one flush."""
    run = TrainingRun.objects.create(created_at=now)
    claims = race(lambda i: predictive.claim_training(run_id=run.pk, now=now), times=4)
    assert sum(claim is not None for claim in claims) == 1
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.RUNNING
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.FAILED)

    monkeypatch.setattr(predictive, "REBUILD_PAST", 0)  # every scoring counts as bulk
    populate(1400, labelled=1200, now=now)
    _train(now)
    assert Lead.objects.filter(predictive_score__isnull=False).count() == 1400
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'lead_predictive_idx'")
        (definition,) = cursor.fetchone()
    assert "COALESCE" in definition and definition.endswith(", id)")


def test_a_missing_or_invalid_sort_index_is_built_again():
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX lead_predictive_idx")
    predictive.ensure_sort_index()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'lead_predictive_idx'"
        )
        assert cursor.fetchone() == (True,)
