"""Dashboards API: `GET /api/v1/funnel/` per the public contract (managers, marketing)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.selectors import filters as filtering
from dashboards.selectors.funnel import StageRow, funnel
from leadflow.api import error_responses


class PreviousSerializer(serializers.Serializer):
    entered = serializers.IntegerField()
    conversion_to_next = serializers.FloatField(allow_null=True)


class FunnelStageSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    entered = serializers.IntegerField(help_text="cohort: leads that reached it; period: entries")
    conversion_to_next = serializers.FloatField(
        allow_null=True, help_text="Share (0–1) that went further on; null for the last stage."
    )
    converted = serializers.IntegerField()
    drop_off = serializers.IntegerField(allow_null=True)
    reentries = serializers.IntegerField(help_text="period mode: entries by returning leads")
    backward = serializers.IntegerField(help_text="period mode: entries that were moves back")
    waiting = serializers.IntegerField(help_text="period mode: entries still in the stage")
    median_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)
    previous = PreviousSerializer()


class FunnelSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=list(filtering.MODES))
    from_ = serializers.DateField()
    to = serializers.DateField()
    created = serializers.IntegerField(help_text="cohort mode: leads created in the period")
    as_of = serializers.DateTimeField(allow_null=True, help_text="The data is complete to here.")
    leak = serializers.CharField()
    stages = FunnelStageSerializer(many=True)
    exits = FunnelStageSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


def _number(value):
    return None if value is None else float(value)


def stage_json(row: StageRow) -> dict:
    return {
        "stage": row.stage,
        "label": row.label,
        "entered": row.entered,
        "conversion_to_next": _number(row.conversion_to_next),
        "converted": row.converted,
        "drop_off": row.drop_off,
        "reentries": row.reentries,
        "backward": row.backward,
        "waiting": row.waiting,
        "median_seconds": row.median_seconds,
        "p90_seconds": row.p90_seconds,
        "previous": {
            "entered": row.previous_entered,
            "conversion_to_next": _number(row.previous_conversion),
        },
    }


FILTER_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 30 days ago)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default: today)"),
    OpenApiParameter("source", OpenApiTypes.STR, description="A source channel"),
    OpenApiParameter("campaign", OpenApiTypes.STR, description="A campaign code"),
    OpenApiParameter("team", OpenApiTypes.INT, description="A team id"),
    OpenApiParameter("mode", OpenApiTypes.STR, enum=list(filtering.MODES)),
]


class FunnelView(APIView):
    """`GET /api/v1/funnel/`: leads entering each stage and the conversion to the next."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=FILTER_PARAMETERS, responses={200: FunnelSerializer, **error_responses(400, 403)}
    )
    def get(self, request):
        f = filtering.parse(request.query_params, user=request.user, now=timezone.now())
        result = funnel(f)
        return Response(
            {
                "mode": f.mode,
                "from": f.start.isoformat(),
                "to": f.end.isoformat(),
                "created": result.created,
                "as_of": result.as_of.isoformat() if result.as_of else None,
                "leak": result.leak,
                "stages": [stage_json(r) for r in result.stages],
                "exits": [stage_json(r) for r in result.exits],
            }
        )
