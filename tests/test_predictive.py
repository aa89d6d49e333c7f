"""The predictive score: learned from outcomes, evaluated honestly on held-out leads
beside the rule score, activated only when it beats it, and never crashing on odd data.

The data is bench/predictive.py's generator: a known signal (referrals, pricing page
views and the "enterprise" plan raise the odds, paid search lowers them), a rule score
of noise, or pure noise outcomes."""

import pytest

from bench.predictive import populate
from leads.models import Lead
from scoring.models import TrainingRun
from scoring.services import predictive

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


def test_pure_noise_reports_an_auc_near_a_coin_and_stays_inactive(now):
    populate(2000, labelled=2000, now=now, signal=False)
    run = _train(now)
    model = run.model
    assert run.status == TrainingRun.Status.DONE
    assert abs(model.auc - 0.5) < 0.07, model.auc
    assert not model.is_active and "Not used" in model.note and run.message == model.note
    assert not Lead.objects.filter(predictive_score__isnull=False).exists()
