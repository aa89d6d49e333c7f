"""Nurturing's API: the email-events webhook (bounces and complaints)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api import error_responses
from leads import roles
from nurturing.models import Send
from nurturing.services import recipients


class MarketingOnly(permissions.BasePermission):
    message = "Only a marketing (or admin) token may report email events."

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
