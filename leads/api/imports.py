"""Import API (public contract v1): `POST /api/v1/imports/` (multipart file, mapping,
source, campaign) → 202, `GET /api/v1/imports/{id}/` → status and row errors.

Shape in, shape out; the rules live in `leads.services.imports`.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from leadflow.api import error_responses
from leads import roles
from leads.exceptions import LeadFlowError
from leads.models import Campaign, ImportJob, Source
from leads.services import imports


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="Spreadsheet row: the header is 1.")
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    errors = ImportErrorSerializer(many=True, read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "rows_total",
            "rows_imported",
            "errors",
            # Beyond the v1 contract's list:
            "rows_processed",
            "rows_created",
            "rows_updated",
            "original_name",
            "size",
            "encoding",
            "delimiter",
            "mapping",
            "source",
            "campaign",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "undone_at",
        ]
        read_only_fields = fields


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    mapping = serializers.CharField(
        required=False,
        trim_whitespace=True,
        help_text='JSON: {"column header": "lead field" or "custom.<name>"}; columns left out '
        "are skipped. Without it, columns are mapped as suggested from their headers.",
    )
    source = serializers.ChoiceField(choices=Source.choices, default=Source.OTHER)
    campaign = serializers.SlugRelatedField(
        slug_field="code", queryset=Campaign.objects.all(), required=False, allow_null=True
    )

    def validate_mapping(self, value):
        try:
            mapping = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("The mapping is not valid JSON.") from None
        if not isinstance(mapping, dict):
            raise serializers.ValidationError('Send a JSON object: {"column": "field", ...}.')
        return mapping


class MarketingOnly(permissions.BasePermission):
    message = "Only marketing (or an admin) may import leads."

    def has_permission(self, request, view):
        return roles.sees_all_leads(request.user)


@extend_schema_view(
    list=extend_schema(responses={200: ImportJobSerializer(many=True), **error_responses(403)}),
    retrieve=extend_schema(responses={200: ImportJobSerializer, **error_responses(403, 404)}),
)
class ImportJobViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """CSV imports of leads: all rows or none, run by a Celery worker, undoable."""

    serializer_class = ImportJobSerializer
    permission_classes = [permissions.IsAuthenticated, MarketingOnly]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return imports.imports_visible_to(self.request.user)

    def get_serializer_class(self):
        return ImportCreateSerializer if self.action == "create" else ImportJobSerializer

    @extend_schema(
        request={"multipart/form-data": ImportCreateSerializer},
        responses={
            202: OpenApiResponse(ImportJobSerializer, description="Queued."),
            **error_responses(400, 403),
        },
    )
    def create(self, request, *args, **kwargs):
        limit = settings.IMPORT_MAX_BYTES
        # Refuse an oversized upload before reading it (the form fields add a little).
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit + 1024 * 1024:
            raise LeadFlowError(
                f"The file is larger than the limit of {limit:,} bytes.", field="file"
            )
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = imports.create_import_job(
            upload=data["file"],
            source=data["source"],
            campaign=data.get("campaign"),
            mapping=data.get("mapping"),
            by=request.user,
            now=timezone.now(),
            start=True,
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None, responses={200: ImportJobSerializer, **error_responses(403, 404, 409)}
    )
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        """Delete the leads the import created and put back the fields it filled (409
        unless it is done; undoing an undone import changes nothing)."""
        job = self.get_object()
        job = imports.undo_import(job_id=job.pk, by=request.user, now=timezone.now())
        return Response(ImportJobSerializer(job).data)
