from django.contrib import admin

from leadflow.models import TickRun


@admin.register(TickRun)
class TickRunAdmin(admin.ModelAdmin):
    list_display = ["as_of", "started_at", "finished_at", "ok"]
    readonly_fields = ["as_of", "started_at", "finished_at", "results", "errors"]
