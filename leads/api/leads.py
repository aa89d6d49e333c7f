"""Lead API (public contract v1): /api/v1/leads/."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api import LimitedJSONParser, error_responses, exception_handler
from leads import roles, rows, selectors, services
from leads.api.permissions import CanCapture, MarketingOnly, MarketingWrites
from leads.api.serializers import (
    BULK_EVENTS_MAX,
    BatchAnswerSerializer,
    BulkEventSerializer,
    BulkEventsRecordedSerializer,
    CustomFieldSerializer,
    EraseSerializer,
    ErasureSerializer,
    EventRecordedSerializer,
    EventSerializer,
    LeadSerializer,
)
from leads.filters import SORTS, LeadFilter
from leads.models import Campaign, CustomField
from leads.services import custom_fields, erasure
from leads.services.batch import capture_batch

BATCH_MAX = 1000  # leads per POST /api/v1/leads/batch/
BATCH_MAX_BODY_BYTES = 4 * 1024 * 1024


class LeadCursorPagination(CursorPagination):
    """Keyset pagination in the order `sort` asks for (newest first by default);
    stable under inserts at any position."""

    ordering = SORTS["newest"]
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(self, request, queryset, view):
        return SORTS.get(request.query_params.get("sort", ""), self.ordering)

    def decode_cursor(self, request):
        """A cursor whose position cannot be a value of the ordering's first field (a
        hand-edited or stale link) is a 400, never a database error."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise InvalidCursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        first = self.get_ordering(request, None, None)[0].lstrip("-")
        if "\x00" in cursor.position or not self.valid_position(first, cursor.position):
            raise InvalidCursor()
        return cursor

    def valid_position(self, field: str, position: str) -> bool:
        return _valid_position(field, position)


class InvalidCursor(ValidationError):
    default_detail = {"cursor": ["This page link is not valid (any more); start again."]}


def _valid_position(field: str, position: str) -> bool:
    if field == "created_at":
        try:
            value = parse_datetime(position)
        except ValueError:
            return False
        return value is not None and value.tzinfo is not None
    if field in ("score", "id", "sort_predictive", "sort_predictive_low"):
        return position.lstrip("-").isdigit() and abs(int(position)) < 2**31
    return True


class BatchJSONParser(LimitedJSONParser):
    """The API's JSON checks with room for a thousand leads."""

    max_bytes = BATCH_MAX_BODY_BYTES


class CanCaptureInBatch(CanCapture):
    """The batch captures too: the same rule as `create`."""

    def has_permission(self, request, view):
        return roles.can_capture(request.user)


@extend_schema_view(
    list=extend_schema(responses={200: LeadSerializer, **error_responses(400)}),
    retrieve=extend_schema(responses={200: LeadSerializer, **error_responses(404)}),
    partial_update=extend_schema(
        responses={200: LeadSerializer, **error_responses(400, 403, 404, 409)}
    ),
)
class LeadViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    pagination_class = LeadCursorPagination
    permission_classes = [permissions.IsAuthenticated, CanCapture]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.lead_list(self.request.user)

    @extend_schema(
        responses={
            201: OpenApiResponse(LeadSerializer, description="A new lead was created."),
            200: OpenApiResponse(LeadSerializer, description="An existing lead was updated."),
            **error_responses(400, 403, 409),
        }
    )
    def create(self, request, *args, **kwargs):
        context = {**self.get_serializer_context(), **_lookups([request.data])}
        serializer = LeadSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        result = services.capture_lead(
            data={k: v for k, v in serializer.validated_data.items() if k != "stage_reason"},
            by=request.user,
            channel="api",
            now=timezone.now(),
        )
        # The answer through the same serializer (its fields are built once a request).
        if result.created:
            # Answered as written (its campaign is the one validated; no owner yet).
            answer = serializer.to_representation(result.lead)
            return Response(answer, status=status.HTTP_201_CREATED)
        lead = self.get_queryset().get(pk=result.lead.pk)
        return Response(serializer.to_representation(lead), status=status.HTTP_200_OK)

    @extend_schema(
        request=LeadSerializer(many=True),
        responses={
            200: OpenApiResponse(
                BatchAnswerSerializer,
                description="Each lead's outcome in input order: 201 (`id` of the new lead), "
                "200 (`id` of the existing lead it updated) or 400 (`errors`, as a single "
                "capture's answer; the other leads still go in).",
            ),
            **error_responses(400, 403),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[BatchJSONParser],
        permission_classes=[permissions.IsAuthenticated, CanCaptureInBatch],
    )
    def batch(self, request):
        """Capture up to 1,000 leads as capturing them one by one in order would."""
        items = request.data
        if not isinstance(items, list) or not items:
            raise ValidationError({"non_field_errors": ["Send a JSON list of leads."]})
        if len(items) > BATCH_MAX:
            raise ValidationError({"non_field_errors": [f"At most {BATCH_MAX} leads per batch."]})
        reader = LeadSerializer(context={**self.get_serializer_context(), **_lookups(items)})
        results: list[dict | None] = [None] * len(items)
        valid = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                results[index] = {
                    "status": 400,
                    "errors": {
                        "non_field_errors": ["Each item is a JSON object of a lead's fields."]
                    },
                }
                continue
            try:
                data = reader.run_validation(item)
            except ValidationError as exc:
                detail = exc.detail
                if not isinstance(detail, dict):  # the errors are always field messages
                    detail = {"non_field_errors": detail}
                results[index] = {"status": 400, "errors": detail}
                continue
            data.pop("stage_reason", None)
            valid.append((index, data))
        outcomes = capture_batch(
            items=[data for _, data in valid], by=request.user, channel="api", now=timezone.now()
        )
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            if outcome.error is not None:
                errors = exception_handler(outcome.error, {}).data
                results[index] = {"status": 400, "errors": errors}
            else:
                results[index] = {"status": 201 if outcome.created else 200, "id": outcome.lead_id}
        return Response({"results": results})

    @extend_schema(
        request=EventSerializer,
        responses={
            201: OpenApiResponse(EventRecordedSerializer, description="The event was recorded."),
            200: OpenApiResponse(
                EventRecordedSerializer, description="The key was seen before; nothing recorded."
            ),
            **error_responses(400, 403, 404),
        },
    )
    @action(detail=True, methods=["post"])
    def events(self, request, pk=None):
        """Record a behavioural event on the lead (idempotent per `key`)."""
        lead = self.get_object()
        serializer = EventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.record_event(
            lead_id=lead.pk, **serializer.validated_data, now=timezone.now()
        )
        return Response(
            {"id": result.activity.pk, "type": result.activity.kind, "recorded": result.created},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Everything held about the person, one part per app: `leads` "
                "(the lead and the leads merged into it, custom values, consent and its "
                "history, stage history, timeline, field audit, aliases, merges, imports), "
                "`scoring` (score history), `nurturing` (enrolments, emails sent, "
                "suppressions), `handoff` (handoffs with notes, notifications).",
            ),
            **error_responses(403, 404),
        }
    )
    @action(detail=True, methods=["get"], permission_classes=[permissions.IsAuthenticated,
                                                              MarketingOnly])  # fmt: skip
    def export(self, request, pk=None):
        """Everything LeadFlow holds about the lead's person (GDPR article 15)."""
        lead = self.get_object()
        return Response(erasure.export_person(lead_id=lead.pk, now=timezone.now()))

    @extend_schema(
        request=EraseSerializer,
        responses={
            200: OpenApiResponse(ErasureSerializer, description="The person was erased."),
            **error_responses(400, 403, 404, 409),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated,
                                                               MarketingOnly])  # fmt: skip
    def erase(self, request, pk=None):
        """Erase the lead's person everywhere (GDPR article 17): personal data removed or
        anonymised, the funnel's counts kept, only a keyed hash of the email kept (an
        import or a batch with it skips that row). An erased lead is a 404 from then on."""
        lead = self.get_object()
        serializer = EraseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        done = erasure.erase_person(
            lead_id=lead.pk, by=request.user, reason=serializer.validated_data["reason"],
            now=timezone.now(),
        )  # fmt: skip
        return Response(ErasureSerializer(done).data)

    def partial_update(self, request, *args, **kwargs):
        lead = self.get_object()
        serializer = self.get_serializer(lead, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        reason = changes.pop("stage_reason", "")
        services.update_lead(
            lead_id=lead.pk, changes=changes, by=request.user, reason=reason, via="api",
            now=timezone.now(),
        )  # fmt: skip
        return Response(self.get_serializer(self.get_queryset().get(pk=lead.pk)).data)


def _lookups(items: list) -> dict:
    """The campaigns the items name and the custom field definitions (when an item has
    custom values), read once for all of them (LeadSerializer finds them in its
    context): a single capture's two lookups without the ORM's per-query work."""
    items = [item for item in items if isinstance(item, dict)]
    codes = sorted({i["campaign"] for i in items if isinstance(i.get("campaign"), str)})
    # (context name, query, the key each instance is found by)
    wanted = []
    if codes:
        wanted.append(("campaigns", (Campaign, "WHERE t.code = ANY(%s)", [codes]), "code"))
    if any("custom" in item for item in items):
        wanted.append(("custom_fields", (CustomField, "", []), "name"))
    if not wanted:
        return {}
    # Both in one statement: a round trip costs a single capture more than the rows.
    found = rows.fetch_together(*(query for _, query, _ in wanted))
    return {
        name: {getattr(instance, key): instance for instance in instances}
        for (name, _, key), instances in zip(wanted, found, strict=True)
    }


@extend_schema_view(
    list=extend_schema(responses={200: CustomFieldSerializer(many=True), **error_responses()}),
    create=extend_schema(responses={201: CustomFieldSerializer, **error_responses(400, 403)}),
    retrieve=extend_schema(responses={200: CustomFieldSerializer, **error_responses(404)}),
    partial_update=extend_schema(
        responses={200: CustomFieldSerializer, **error_responses(400, 403, 404)}
    ),
    destroy=extend_schema(responses={204: None, **error_responses(403, 404, 409)}),
)
class CustomFieldViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Custom lead fields: `GET|POST /api/v1/custom-fields/`; `GET|PATCH|DELETE
    /api/v1/custom-fields/{name}/` (a PATCH changes `label` and a choice field's
    `choices`; a DELETE removes the field's values from every lead, audited, and is a
    409 while a web form asks for the field). Rules: leads.services.custom_fields."""

    serializer_class = CustomFieldSerializer
    permission_classes = [permissions.IsAuthenticated, MarketingWrites]
    queryset = CustomField.objects.all()
    pagination_class = None
    lookup_field = "name"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def partial_update(self, request, *args, **kwargs):
        field = self.get_object()
        choices = request.data.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ValidationError({"choices": ["Send a list of choices."]})
        field = custom_fields.update_custom_field(
            name=field.name,
            label=str(request.data.get("label", field.label)),
            choices=None if choices is None else [str(c) for c in choices],
            by=request.user,
        )
        return Response(self.get_serializer(field).data)

    def destroy(self, request, *args, **kwargs):
        field = self.get_object()
        custom_fields.delete_custom_field(name=field.name, by=request.user, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_create(self, serializer):
        serializer.instance = services.define_custom_field(
            **serializer.validated_data, by=self.request.user
        )


class BulkEventsView(APIView):
    """`POST /api/v1/events/`: a batch of events for any leads you may see; all are
    checked first and, if one is bad, none is recorded."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [LimitedJSONParser]  # a list of events has no form encoding

    @extend_schema(
        request=BulkEventSerializer(many=True),
        responses={201: BulkEventsRecordedSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request):
        if not isinstance(request.data, list) or not request.data:
            raise ValidationError({"non_field_errors": ["Send a JSON list of events."]})
        if len(request.data) > BULK_EVENTS_MAX:
            raise ValidationError(
                {"non_field_errors": [f"At most {BULK_EVENTS_MAX} events per request."]}
            )
        serializer = BulkEventSerializer(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        events = serializer.validated_data
        visible = set(
            selectors.leads_visible_to(request.user)
            .filter(pk__in={e["lead"] for e in events})
            .values_list("pk", flat=True)
        )
        missing = sorted({e["lead"] for e in events} - visible)
        if missing:
            raise NotFound(f"No lead with id {', '.join(map(str, missing))} that you may see.")
        results = services.record_events(events, now=timezone.now())
        recorded = sum(result.created for result in results)
        return Response(
            {"recorded": recorded, "duplicates": len(events) - recorded},
            status=status.HTTP_201_CREATED,
        )
