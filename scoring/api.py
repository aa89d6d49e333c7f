"""Scoring API: a lead's score explanation, the scoring models, the what-if, and the
predictive model."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api import error_responses
from leads.api.permissions import MarketingWrites
from leads.selectors import leads_visible_to
from scoring import selectors, services
from scoring.models import ScoringModel
from scoring.rules import DefinitionError


class ContributionSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="The rule's name, or an event type and its count.")
    points = serializers.FloatField(help_text="What it gives now (events: after decay).")
    applies_to = serializers.ChoiceField(choices=["fit", "engagement"])
    capped = serializers.BooleanField(help_text="Whether the event type's cap held points back.")
    cap = serializers.FloatField(allow_null=True, help_text="The event type's cap per 30 days.")
    held_back = serializers.FloatField(help_text="Points the cap held back (before decay).")
    note = serializers.CharField(help_text="In words: the cap that held points back, the decay.")
    events = serializers.DictField(
        required=False, help_text="Event rows: `count`, `points_before_decay`, `last`."
    )


class ScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    grade = serializers.CharField()
    fit = serializers.IntegerField()
    engagement = serializers.FloatField()
    contributions = ContributionSerializer(many=True)
    mql = serializers.DictField()
    model_version = serializers.IntegerField()


class LeadScoreView(APIView):
    """`GET /api/v1/leads/{id}/score/`: which rule gave which points."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=ScoreSerializer)
    def get(self, request, pk: int):
        lead = get_object_or_404(leads_visible_to(request.user), pk=pk)
        explanation = selectors.explain(lead, now=timezone.now())
        if explanation is None:
            return Response({"detail": "No scoring model is active yet."}, status=409)
        return Response(explanation)


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class ChangeSerializer(serializers.Serializer):
    part = serializers.ChoiceField(
        choices=["rules", "engagement", "grades", "disqualify", "half_life_days", "mql"]
    )
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    name = serializers.CharField(help_text="The rule's name, the event type or the grade.")
    item = serializers.JSONField(allow_null=True, help_text="The item (as it was, if removed).")
    fields = FieldChangeSerializer(many=True, help_text="What changed, for `changed`.")


class ScoringModelSerializer(serializers.ModelSerializer):
    changes = serializers.SerializerMethodField(
        help_text="What changed since the version before it; null for the first version."
    )

    class Meta:
        model = ScoringModel
        fields = ["version", "is_active", "definition", "note", "created_at", "changes"]
        read_only_fields = ["version", "is_active", "created_at"]

    @extend_schema_field(ChangeSerializer(many=True, allow_null=True))
    def get_changes(self, model: ScoringModel) -> list[dict] | None:
        """Against the version before it: from the `previous` context ({version: the
        definition before it}, for a list) or looked up."""
        previous = self.context.get("previous", {})
        if model.version in previous:
            before = previous[model.version]
        else:
            before = (
                ScoringModel.objects.filter(version__lt=model.version)
                .order_by("-version")
                .values_list("definition", flat=True)
                .first()
            )
        return None if before is None else selectors.definition_changes(before, model.definition)


LISTED = 50  # versions the list shows, newest first


def _definition_errors(exc: DefinitionError) -> ValidationError:
    return ValidationError({"definition": {path: [msg] for path, msg in exc.errors.items()}})


class ScoringModelsView(APIView):
    """`GET /api/v1/scoring-models/` (every version, newest first; everyone signed in
    reads the lead definition) and `POST` (marketing: a new version, made active)."""

    permission_classes = [permissions.IsAuthenticated, MarketingWrites]

    @extend_schema(responses=ScoringModelSerializer(many=True))
    def get(self, request):
        models = list(ScoringModel.objects.all()[: LISTED + 1])  # and the one before the last
        previous = {
            model.version: (models[i + 1].definition if i + 1 < len(models) else None)
            for i, model in enumerate(models)
        }
        listed = ScoringModelSerializer(models[:LISTED], many=True, context={"previous": previous})
        return Response(listed.data)

    @extend_schema(request=ScoringModelSerializer, responses={201: ScoringModelSerializer})
    def post(self, request):
        serializer = ScoringModelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            model = services.create_version(
                definition=serializer.validated_data["definition"],
                note=serializer.validated_data.get("note", ""),
                by=request.user,
                now=timezone.now(),
            )
        except DefinitionError as exc:
            raise _definition_errors(exc) from None
        return Response(ScoringModelSerializer(model).data, status=status.HTTP_201_CREATED)


class WhatIfRequestSerializer(serializers.Serializer):
    definition = serializers.JSONField(
        help_text="A draft lead definition, shaped as a scoring model's `definition`."
    )


class WhatIfExampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField(allow_null=True)


class WhatIfChangeSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    examples = WhatIfExampleSerializer(many=True, help_text="The first few, by lead id.")


class WhatIfSerializer(serializers.Serializer):
    newly_mql = WhatIfChangeSerializer(help_text="Leads the draft would move to MQL.")
    leave_mql = WhatIfChangeSerializer(help_text="MQLs the draft would move back to nurturing.")
    disqualified = WhatIfChangeSerializer(help_text="Leads the draft would disqualify.")


class WhatIfView(APIView):
    """`POST /api/v1/scoring-models/what-if/`: what a draft definition would change."""

    permission_classes = [permissions.IsAuthenticated, MarketingWrites]

    @extend_schema(request=WhatIfRequestSerializer, responses={200: WhatIfSerializer})
    def post(self, request):
        draft = WhatIfRequestSerializer(data=request.data)
        draft.is_valid(raise_exception=True)
        try:
            result = selectors.what_if(draft.validated_data["definition"], now=timezone.now())
        except DefinitionError as exc:
            raise _definition_errors(exc) from None
        return Response(WhatIfSerializer(result).data)


class FactorSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text="The learned effect in words.")
    weight = serializers.FloatField(
        help_text="Its weight on the log-odds of converting (numbers: per typical step)."
    )


class CalibrationBinSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    predicted = serializers.FloatField(help_text="The mean predicted probability in the bin.")
    observed = serializers.FloatField(help_text="The share of its leads that converted.")
    count = serializers.IntegerField()


class TrainingRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.IntegerField(help_text="Percent.")
    step = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class PredictiveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["training", "active", "inactive", "too_few", "no_outcomes", "failed",
                 "untrained"],
        help_text="Of the latest training (or, before any, of the outcomes known).",
    )  # fmt: skip
    outcomes = serializers.IntegerField(
        help_text="Leads with a known outcome the latest model learned from (before any "
        "model: known now)."
    )
    auc = serializers.FloatField(allow_null=True, help_text="ROC AUC on held-out leads.")
    rule_auc = serializers.FloatField(
        allow_null=True, help_text="The rule score's ROC AUC on the same held-out leads."
    )
    trained_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField(help_text="Whether a model scores leads now.")
    factors = FactorSerializer(many=True, help_text="The strongest learned effects first.")
    held_out = serializers.IntegerField(allow_null=True)
    split = serializers.CharField(allow_null=True, help_text="time or stratified.")
    calibration = CalibrationBinSerializer(many=True)
    minimum_per_class = serializers.IntegerField()
    converted = serializers.IntegerField(
        help_text="Of the outcomes, conversions (the latest model's; before any, known now)."
    )
    not_converted = serializers.IntegerField(help_text="Of the outcomes, the others.")
    note = serializers.CharField(help_text="Why the latest model is not active, if not.")
    run = TrainingRunSerializer(allow_null=True, help_text="The latest training run.")


def _predictive_json(found: dict) -> dict:
    model, run = found["model"], found["run"]
    return {
        **{key: found[key] for key in ("status", "outcomes", "auc", "rule_auc", "trained_at",
                                       "active", "factors")},
        "held_out": model.held_out if model else None,
        "split": model.split if model else None,
        "calibration": model.calibration if model else [],
        "minimum_per_class": found["minimum"],
        "converted": found["converted_now"],
        "not_converted": found["not_converted_now"],
        "note": model.note if model else "",
        "run": run,
    }  # fmt: skip


class PredictiveView(APIView):
    """`GET /api/v1/predictive/`: the predictive model, its evaluation and its factors."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: PredictiveSerializer, **error_responses()})
    def get(self, request):
        return Response(PredictiveSerializer(_predictive_json(selectors.predictive_status())).data)


class PredictiveTrainView(APIView):
    """`POST /api/v1/predictive/train/` (marketing): train again, in the background; 202
    with the run (the one under way, if one is)."""

    permission_classes = [permissions.IsAuthenticated, MarketingWrites]

    @extend_schema(request=None, responses={202: TrainingRunSerializer, **error_responses(403)})
    def post(self, request):
        from scoring.services import predictive

        run = predictive.request_training(by=request.user, now=timezone.now())
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
