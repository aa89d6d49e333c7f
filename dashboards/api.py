"""Dashboards API (managers, marketing): `GET /api/v1/funnel/` per the public contract,
and `GET /api/v1/dashboards/<page>/` with the other pages' tables."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboards.pages import DASHBOARDS
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
        parameters=FILTER_PARAMETERS,
        responses={200: FunnelSerializer, **error_responses(400, 403)},
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


class TableColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=["int", "text", "rate", "money", "seconds", "when", "day"]
    )


class TableSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The table's name (the page's `table=` for CSV)")
    title = serializers.CharField()
    note = serializers.CharField(help_text="What the table counts")
    columns = TableColumnSerializer(many=True)
    rows = serializers.ListField(
        child=serializers.DictField(), help_text="One object per row, keyed by column key"
    )
    total = serializers.IntegerField(required=False, help_text="Rows in all (paginated tables)")


class DashboardTablesSerializer(serializers.Serializer):
    page = serializers.CharField()
    from_ = serializers.DateField()
    to = serializers.DateField()
    mode = serializers.ChoiceField(choices=list(filtering.MODES))
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="The rollups are complete to here."
    )
    notes = serializers.ListField(child=serializers.CharField())
    tables = TableSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


TABLE_PAGES = ("sources", "sla", "aging", "closed-loop", "nurture")


class DashboardTablesView(APIView):
    """`GET /api/v1/dashboards/<page>/` (sources, sla, aging, closed-loop, nurture): the
    page's tables as JSON, with the same filters and roles as the page."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "board", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(TABLE_PAGES)
            ),
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "days", OpenApiTypes.INT, description="aging: untouched for N days (default 3)"
            ),
            OpenApiParameter(
                "page", OpenApiTypes.INT, description="aging: page of untouched leads"
            ),
        ],
        responses={200: DashboardTablesSerializer, **error_responses(400, 403, 404)},
        operation_id="dashboard_tables",
    )
    def get(self, request, board: str):
        if board not in TABLE_PAGES:
            raise NotFound("No such dashboard: sources, sla, aging, closed-loop or nurture.")
        now = timezone.now()
        f = filtering.parse(request.query_params, user=request.user, now=now)
        built = DASHBOARDS[board].build(f, request.query_params, now)
        as_of = filtering.freshness()
        return Response(
            {
                "page": board,
                "from": f.start.isoformat(),
                "to": f.end.isoformat(),
                "mode": f.mode,
                "as_of": as_of.isoformat() if as_of else None,
                "notes": built.notes,
                "tables": [t.as_json() for t in built.tables],
            }
        )
