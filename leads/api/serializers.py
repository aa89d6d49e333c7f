"""Lead JSON (public contract v1): shape in, shape out. Rules live in leads.services."""

from __future__ import annotations

import copy
import re
from functools import cached_property

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    EmailValidator,
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
)
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty, get_error_detail
from rest_framework.utils import html
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from leads.custom_fields import clean_values
from leads.models import EVENT_TYPES, Campaign, ConsentStatus, CustomField, Lead, Source, Stage
from leads.normalise import normalise_email, normalise_external_id, normalise_phone
from leads.services.identity import (
    BUDGET_DIGITS,
    BUDGET_PLACES,
    MISSING_IDENTITY,
    clean_budget,
    clean_country,
    clean_time_zone,
    has_identity,
)


def _checked(clean, value, **kwargs):
    """`clean(value)`, its ValueError (a message for people) as the field's error."""
    try:
        return clean(value, **kwargs)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from None


class BudgetField(serializers.DecimalField):
    """An amount ≥ 0 written as a JSON number (never text), read the way every channel
    reads one (`identity.clean_budget`: `12500.5`, `"12,500.50"`)."""

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=BUDGET_DIGITS,
            decimal_places=BUDGET_PLACES,
            min_value=0,
            coerce_to_string=False,
            **kwargs,
        )

    def to_internal_value(self, data):
        return _checked(clean_budget, data)


class CampaignCodeField(serializers.SlugRelatedField):
    """A campaign by its code. A batch looks its campaigns up at once and passes them
    in the context (`campaigns`: code → Campaign); a code it does not hold is looked
    up (and refused) as usual."""

    def to_internal_value(self, data):
        known = self.context.get("campaigns")
        if known is not None and isinstance(data, str) and data in known:
            return known[data]
        return super().to_internal_value(data)


# --- reading a field the short way ---------------------------------------------------
#
# DRF reads every field of every item through its generic path: the value's emptiness,
# the conversion, then each validator in turn (a thousand items of a batch: two thirds
# of its CPU). For the values that path would accept unchanged — text within its length
# with no NUL or unpaired surrogate, a valid email, a known choice, a field left out —
# `_read_quickly` gives what it would give; any other value (empty, too long, of another
# type, invalid) goes through the field's own `run_validation`, so every error is the
# one DRF raises, word for word.

_SLOW = object()  # "read this value through the field's own path"
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_CHECKS = (MaxLengthValidator, ProhibitNullCharactersValidator,
                ProhibitSurrogateCharactersValidator, EmailValidator)  # fmt: skip


def _kind(field) -> str:
    """How `_read_quickly` reads the field: "text", "choice", or "" (DRF's own path)."""
    if type(field) in (serializers.CharField, serializers.EmailField) and all(
        isinstance(v, _TEXT_CHECKS) for v in field.validators
    ):
        return "text"
    if type(field) is serializers.ChoiceField and not field.validators:
        return "choice"
    return ""


def _read_quickly(field, kind: str, value):
    """The field's internal value for `value` as `field.run_validation` gives it, or
    _SLOW when only that path can tell (an error, an empty value, another type)."""
    if kind == "text" and type(value) is str:
        text = value.strip() if field.trim_whitespace else value
        if (
            not text
            or (field.max_length is not None and len(text) > field.max_length)
            or "\x00" in text
            or (not text.isascii() and _SURROGATE.search(text))
        ):
            return _SLOW
        for validator in field.validators:
            if isinstance(validator, EmailValidator):
                try:
                    validator(text)
                except DjangoValidationError:
                    return _SLOW
        return text
    if kind == "choice" and type(value) is str and value:
        return field.choice_strings_to_values.get(value, _SLOW)
    return _SLOW


class LeadSerializer(serializers.ModelSerializer):
    # Declared explicitly: the model's unique email must not turn into a 400 here,
    # because capturing an existing identity is a 200 that updates the lead.
    email = serializers.EmailField(
        required=False, allow_null=True, allow_blank=True, max_length=254
    )
    phone = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=40)
    external_id = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=200
    )
    country = serializers.CharField(required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    stage_reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, write_only=True,
        help_text="Why the stage changes (with `stage`; required for some moves).",
    )  # fmt: skip
    campaign = CampaignCodeField(
        slug_field="code", queryset=Campaign.objects.all(), required=False, allow_null=True
    )
    latest_campaign = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    predictive_score = serializers.IntegerField(
        read_only=True, allow_null=True,
        help_text="P(converts) as 0-100 from the predictive model; null while no model is "
        "active, and for won, lost and disqualified leads.",
    )  # fmt: skip
    owner = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username, or null."
    )
    custom = serializers.DictField(required=False)
    budget = BudgetField(required=False, allow_null=True)
    consent = serializers.ChoiceField(
        source="consent_status", choices=ConsentStatus.choices, required=False,
        help_text="Marketing-email consent. A capture of an existing lead never erases a "
        "stated consent and never grants a denied or withdrawn one again; an edit may.",
    )  # fmt: skip

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "title",
            "phone",
            "country",
            "source",
            "campaign",
            "owner",
            "stage",
            "stage_reason",
            "score",
            "grade",
            "custom",
            "external_id",
            "converted",
            "created_at",
            "budget",
            "authority",
            "need",
            "timeline",
            "consent",
            "time_zone",
            "predictive_score",
            # Beyond the v1 contract's list:
            "consent_at",
            "consent_method",
            "latest_campaign",
            "company_domain",
            "website",
            "company_size",
            "industry",
        ]
        read_only_fields = [
            "id", "owner", "score", "grade", "created_at", "latest_campaign", "consent_at",
            "consent_method", "predictive_score",
        ]  # fmt: skip
        validators = []

    def get_fields(self):
        """The fields built from the model once per process, a shallow copy of each for
        every serializer (DRF builds them again for every instance, and a deep copy
        runs each field's __init__ again: a fifth of a capture's CPU). Shallow is
        enough: the built fields are never bound themselves (binding sets the copy's
        name and parent), and what copies share is configuration read, never written —
        choices, validators, error messages, a related field's queryset (cloned by
        `get_queryset()` on every use)."""
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return {name: copy.copy(field) for name, field in built.items()}

    # What DRF works out again for every item read (a batch reads a thousand with one
    # serializer): the writable fields, their names, the read-only defaults (none).
    @cached_property
    def _writable_fields(self):
        return [field for field in self.fields.values() if not field.read_only]

    @cached_property
    def _writable_names(self) -> frozenset[str]:
        return frozenset(field.field_name for field in self._writable_fields)

    @cached_property
    def _defaulted_read_only(self) -> bool:
        return any(
            f.read_only and f.default is not empty and f.source != "*" for f in self.fields.values()
        )

    def _read_only_defaults(self):
        return super()._read_only_defaults() if self._defaulted_read_only else {}

    @cached_property
    def _readings(self) -> list[tuple]:
        """Per writable field: the field, how `_read_quickly` reads it, its
        `validate_<name>` method, where its value goes, whether leaving it out skips it
        (not required, no default)."""
        return [
            (
                field,
                _kind(field),
                getattr(self, "validate_" + field.field_name, None),
                field.source_attrs,
                not field.required and field.default is empty,
            )
            for field in self._writable_fields
        ]

    def _read_fields(self, data: dict) -> dict:
        """`Serializer.to_internal_value`'s loop over the writable fields (same values,
        same errors in the same order), reading the plain values the short way."""
        ret: dict = {}
        errors: dict = {}
        form = html.is_html_input(data)  # a form's values are read as DRF reads them
        for field, kind, validate_method, source_attrs, skipped in self._readings:
            primitive = field.get_value(data) if form else data.get(field.field_name, empty)
            try:
                if primitive is empty and skipped:
                    continue
                value = _read_quickly(field, kind, primitive)
                if value is _SLOW:
                    value = field.run_validation(primitive)
                if validate_method is not None:
                    value = validate_method(value)
            except serializers.ValidationError as exc:
                errors[field.field_name] = exc.detail
            except DjangoValidationError as exc:
                errors[field.field_name] = get_error_detail(exc)
            except SkipField:
                pass
            else:
                if len(source_attrs) == 1:
                    ret[source_attrs[0]] = value
                else:
                    serializers.set_value(ret, source_attrs, value)
        if errors:
            raise serializers.ValidationError(errors)
        return ret

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - self._writable_names)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        self._raw = data  # the item being read (one serializer reads a whole batch)
        return self._read_fields(data)

    def validate_email(self, value):
        return normalise_email(value)

    def validate_external_id(self, value):
        return normalise_external_id(value)

    def validate_country(self, value):
        return _checked(clean_country, value)

    def validate_time_zone(self, value):
        return _checked(clean_time_zone, value)

    def validate_custom(self, value):
        # A batch passes the definitions in the context (read once for all its items).
        cleaned, errors = clean_values(value, self.context.get("custom_fields"))
        if errors:
            raise serializers.ValidationError({name: [msg] for name, msg in errors.items()})
        return cleaned

    def validate_phone(self, value):
        # Read national numbers in the lead's country (given now, or already on the lead).
        try:
            country = clean_country(str(self._raw.get("country") or ""))
        except ValueError:  # reported on the country field
            country = ""
        if not country:
            country = self.instance.country if self.instance else ""
        return _checked(normalise_phone, value, country=country)

    def validate(self, attrs):
        if self.instance is None and not has_identity(attrs):
            raise serializers.ValidationError({"email": [MISSING_IDENTITY]})
        return attrs


class CustomFieldSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=200
    )

    class Meta:
        model = CustomField
        fields = ["name", "label", "type", "choices"]

    def validate_name(self, value):
        if value in {field.name for field in Lead._meta.get_fields()}:
            raise serializers.ValidationError(f"{value!r} is already a standard lead field.")
        return value

    def validate(self, attrs):
        choices = [c.strip() for c in attrs.get("choices", []) if c.strip()]
        if attrs["type"] == CustomField.Type.CHOICE:
            if not choices:
                raise serializers.ValidationError({"choices": ["A choice field needs choices."]})
            if len({c.lower() for c in choices}) != len(choices):
                raise serializers.ValidationError({"choices": ["Choices must differ."]})
        elif choices:
            raise serializers.ValidationError({"choices": ["Only choice fields have choices."]})
        attrs["choices"] = choices
        return attrs


class EventSerializer(serializers.Serializer):
    """A behavioural event (public contract: type, occurred_at, optional key)."""

    type = serializers.ChoiceField(choices=[(t, t) for t in EVENT_TYPES])
    occurred_at = serializers.DateTimeField()
    key = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)


class BulkEventSerializer(EventSerializer):
    lead = serializers.IntegerField(min_value=1)


class BulkEventSchema(OpenApiSerializerExtension):
    """An event plus its lead (`allOf`), so the event types are one enum in the schema."""

    target_class = BulkEventSerializer

    def map_serializer(self, auto_schema, direction):
        event = auto_schema.resolve_serializer(EventSerializer, direction).ref
        lead = {"type": "integer", "minimum": 1, "description": "The lead's id."}
        return {
            "allOf": [event, {"type": "object", "properties": {"lead": lead}, "required": ["lead"]}]
        }


BULK_EVENTS_MAX = 1000


class EventRecordedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The timeline entry's id.")
    type = serializers.CharField()
    recorded = serializers.BooleanField(help_text="False when the key was seen before.")


class BulkEventsRecordedSerializer(serializers.Serializer):
    recorded = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Events whose key was seen before.")


class BatchItemSerializer(serializers.Serializer):
    """One item's outcome in a batch capture (documentation of the answer)."""

    status = serializers.ChoiceField(
        choices=[201, 200, 400], help_text="201 new lead, 200 existing lead updated, 400 refused."
    )
    id = serializers.IntegerField(required=False, help_text="The lead (201 and 200).")
    errors = serializers.DictField(
        required=False, help_text="Field messages, as a single capture's 400 or 409 (400)."
    )


class BatchAnswerSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True, help_text="One per lead sent, in input order.")


class EraseSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the person is erased (kept; write no personal data)."
    )


class ErasureSerializer(serializers.Serializer):
    """The record of an erasure: who, when, why — nothing about the person."""

    id = serializers.IntegerField()
    lead = serializers.IntegerField(source="lead_id", help_text="The anonymised lead.")
    erased_at = serializers.DateTimeField()
    erased_by = serializers.SerializerMethodField(help_text="Username, or null.")
    reason = serializers.CharField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_erased_by(self, erasure) -> str | None:
        return erasure.erased_by.get_username() if erasure.erased_by_id else None
