from django.contrib import admin

from leads.models import Activity, Campaign, Erasure, Lead, StageChange, Team


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "first_name", "last_name", "company", "stage", "source", "owner"]
    list_filter = ["stage", "source"]
    search_fields = ["email", "first_name", "last_name", "company", "external_id", "phone"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "campaign"]
    # Stage changes go through leads.services.move_stage, which records the history.
    readonly_fields = ["stage", "fit", "engagement", "score", "grade", "created_at", "updated_at"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "channel", "cost", "starts_on", "ends_on"]
    search_fields = ["code", "name"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    filter_horizontal = ["managers", "members"]


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    list_display = ["lead", "from_stage", "to_stage", "changed_at", "changed_by"]
    raw_id_fields = ["lead"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["lead", "kind", "occurred_at", "user"]
    raw_id_fields = ["lead"]


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    """The record of who erased a person, when and why (leads.services.erasure): read only."""

    list_display = ["id", "lead", "erased_at", "erased_by", "reason"]
    list_select_related = ["erased_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
