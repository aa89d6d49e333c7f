"""Handoff's API (public contract): `GET /api/v1/handoffs/` (filter `status`),
`GET /api/v1/handoffs/{id}/`, and `POST …/accept/`, `…/reject/`, `…/contact/`,
`…/outcome/`. A handoff you may not see is a 404; a second accept, or any action on a
closed handoff, a 409 (with `holder`: who has it)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from handoff.models import Handoff
from handoff.services import actions
from leadflow.api import error_responses
from leads.api.leads import LeadCursorPagination


class HandoffPagination(LeadCursorPagination):
    """Overdue first: by accept deadline, keyset-paged."""

    ordering = ("accept_by", "id")

    def get_ordering(self, request, queryset, view):
        return self.ordering

    def valid_position(self, field: str, position: str) -> bool:
        try:
            value = parse_datetime(position)
        except ValueError:
            return False
        return value is not None and value.tzinfo is not None


class HandoffSerializer(serializers.ModelSerializer):
    rep = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.CharField(source="team.name", read_only=True)
    breached = serializers.BooleanField(read_only=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "lead",
            "rep",
            "team",
            "status",
            "accept_by",
            "contact_by",
            "breached",
            "accepted_at",
            "contacted_at",
            "reject_reason",
            "note",
            "amount",
            "decision",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields


class RejectSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Handoff.Reason.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ContactSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=actions.CONTACT_KINDS)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class OutcomeSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=actions.OUTCOMES)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True, min_value=0
    )
    expected_close = serializers.DateField(required=False, allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


_ACTION_ERRORS = error_responses(400, 403, 404, 409)


@extend_schema_view(
    list=extend_schema(responses={200: HandoffSerializer(many=True), **error_responses(400)}),
    retrieve=extend_schema(responses={200: HandoffSerializer, **error_responses(404)}),
)
class HandoffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = HandoffSerializer
    permission_classes = [permissions.IsAuthenticated]
    pagination_class = HandoffPagination

    def get_queryset(self):
        qs = actions.visible_handoffs(self.request.user).select_related("rep", "team")
        status = self.request.query_params.get("status")
        if status:
            if status not in Handoff.Status.values:
                raise ValidationError(
                    {"status": [f"Use one of {', '.join(Handoff.Status.values)}."]}
                )
            qs = qs.filter(status=status)
        return qs.order_by("accept_by", "id")

    def _do(self, request, pk, serializer_class, run):
        if not str(pk).isdigit() or int(pk) >= 2**31:  # no such id (and no integer overflow)
            raise NotFound("No such handoff.")
        data = None
        if serializer_class is not None:
            checked = serializer_class(data=request.data)
            checked.is_valid(raise_exception=True)
            data = checked.validated_data
        try:
            handoff = run(int(pk), data)
        except (Handoff.DoesNotExist, ValueError):
            raise NotFound("No such handoff.") from None
        fresh = actions.visible_handoffs(request.user).filter(pk=handoff.pk).first() or handoff
        return Response(HandoffSerializer(fresh).data)

    @extend_schema(request=None, responses={200: HandoffSerializer, **_ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._do(
            request,
            pk,
            None,
            lambda i, _: actions.accept_handoff(handoff_id=i, by=request.user, now=timezone.now()),
        )

    @extend_schema(request=RejectSerializer, responses={200: HandoffSerializer, **_ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._do(
            request,
            pk,
            RejectSerializer,
            lambda i, d: actions.reject_handoff(
                handoff_id=i,
                by=request.user,
                now=timezone.now(),
                reason=d["reason"],
                note=d.get("note", ""),
            ),
        )

    @extend_schema(request=ContactSerializer, responses={200: HandoffSerializer, **_ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def contact(self, request, pk=None):
        return self._do(
            request,
            pk,
            ContactSerializer,
            lambda i, d: actions.log_contact(
                handoff_id=i,
                by=request.user,
                now=timezone.now(),
                kind=d["kind"],
                note=d.get("note", ""),
            ),
        )

    @extend_schema(request=OutcomeSerializer, responses={200: HandoffSerializer, **_ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        return self._do(
            request,
            pk,
            OutcomeSerializer,
            lambda i, d: actions.record_outcome(
                handoff_id=i,
                by=request.user,
                now=timezone.now(),
                stage=d["stage"],
                amount=d.get("amount"),
                reason=d.get("reason", ""),
                expected_close=d.get("expected_close"),
            ),
        )
