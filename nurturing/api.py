"""Nurturing's API: the tracks with their steps and figures, a lead's nurture emails,
and the email-events webhook (bounces and complaints)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api import error_responses
from leads import roles
from leads.selectors import leads_visible_to
from nurturing import selectors
from nurturing.models import Send, Step, Track
from nurturing.services import recipients


class MarketingOnly(permissions.BasePermission):
    message = "Only marketing (or an admin) may do this."

    def has_permission(self, request, view):
        return roles.sees_all_leads(request.user)


class EmailEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=recipients.EVENT_TYPES)
    email = serializers.EmailField(required=False, allow_blank=True)
    message_id = serializers.CharField(required=False, allow_blank=True, max_length=100)


class EmailEventAnswer(serializers.Serializer):
    type = serializers.CharField()
    email = serializers.CharField()
    lead = serializers.IntegerField(allow_null=True)
    suppressed = serializers.BooleanField()


class EmailEventsView(APIView):
    """`POST /api/v1/email-events/`: a hard bounce, soft bounce or complaint for an
    address (`email`) or a nurture email (`message_id`). A hard bounce or complaint (or
    repeated soft bounces) suppresses the address everywhere and ends its tracks."""

    permission_classes = [permissions.IsAuthenticated, MarketingOnly]

    @extend_schema(
        request=EmailEventSerializer,
        responses={200: EmailEventAnswer, **error_responses(400, 403, 404)},
    )
    def post(self, request):
        data = EmailEventSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            event = recipients.record_email_event(now=timezone.now(), **data.validated_data)
        except Send.DoesNotExist as exc:
            raise NotFound(str(exc)) from None
        return Response(
            {
                "type": event.type,
                "email": event.email,
                "lead": event.lead_id,
                "suppressed": event.suppressed,
            }
        )


class FiguresSerializer(serializers.Serializer):
    enrolled = serializers.IntegerField(
        help_text="A track: enrolments ever; a step: enrolments waiting on it now."
    )
    active = serializers.IntegerField(help_text="Enrolments in the track (or on the step) now.")
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    unsubscribed = serializers.IntegerField()
    bounced = serializers.IntegerField()
    complained = serializers.IntegerField()
    capped = serializers.IntegerField(help_text="Sends the frequency cap deferred at least once.")
    mql = serializers.IntegerField(help_text="Enrolments that ended as the lead became MQL.")


class StepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Step.Kind.values)
    template = serializers.CharField(allow_null=True, help_text="An email step's template.")
    figures = FiguresSerializer()


class TrackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    active = serializers.BooleanField()
    recycle = serializers.BooleanField()
    figures = FiguresSerializer()
    steps = StepSerializer(many=True)


def _track_json(track: Track, page: selectors.TrackPage) -> dict:
    return {
        "id": track.pk,
        "name": track.name,
        "description": track.description,
        "active": track.active,
        "recycle": track.recycle,
        "figures": page.figures.as_dict(),
        "steps": [
            {
                "id": row.step.pk,
                "position": row.step.position,
                "kind": row.step.kind,
                "template": row.step.template.name if row.step.template else None,
                "figures": row.figures.as_dict(),
            }
            for row in page.steps
        ],
    }


class TracksView(APIView):
    """`GET /api/v1/tracks/` (marketing): every nurture track with its steps, and the
    figures of each (the same selectors as the tracks page)."""

    permission_classes = [permissions.IsAuthenticated, MarketingOnly]

    @extend_schema(responses={200: TrackSerializer(many=True), **error_responses(403)})
    def get(self, request):
        pages = selectors.all_track_pages()
        return Response([_track_json(page.track, page) for page in pages])


class LeadEmailSerializer(serializers.ModelSerializer):
    track = serializers.CharField(source="track.name")

    class Meta:
        model = Send
        fields = [
            "id",
            "track",
            "subject",
            "status",
            "sent_at",
            "opened_at",
            "clicked_at",
            "message_id",
        ]


class LeadEmailsView(APIView):
    """`GET /api/v1/leads/{id}/emails/`: the lead's nurture emails, newest first (`subject`
    is empty until the email left). A lead you may not see is a 404."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: LeadEmailSerializer(many=True), **error_responses(404)})
    def get(self, request, pk: int):
        lead = get_object_or_404(leads_visible_to(request.user), pk=pk)
        return Response(LeadEmailSerializer(selectors.lead_sends(lead), many=True).data)
