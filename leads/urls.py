"""Leads' pages: `urlpatterns` under /leads/ (namespace `leads`), `import_patterns` under
/imports/ (namespace `imports`), `public_patterns` (the web-to-lead form) at the root."""

from django.urls import path

from leads.views import campaigns, duplicates, entry, fields, forms, imports, leads, lists, privacy

app_name = "leads"
urlpatterns = [
    path("", lists.lead_list, name="list"),
    path("export.csv", lists.lead_export, name="export"),
    path("bulk/", lists.lead_bulk, name="bulk"),
    path("views/", lists.saved_view_save, name="view-save"),
    path("views/<int:pk>/delete/", lists.saved_view_delete, name="view-delete"),
    path("custom-fields/", fields.custom_fields_page, name="custom-fields"),
    path("custom-fields/<str:name>/", fields.custom_field_edit, name="custom-field-edit"),
    path(
        "custom-fields/<str:name>/delete/", fields.custom_field_delete, name="custom-field-delete"
    ),
    path("campaigns/", campaigns.campaigns, name="campaigns"),
    path("forms/", forms.form_list, name="forms"),
    path("forms/<slug:slug>/", forms.form_detail, name="form-detail"),
    path("forms/<slug:slug>/preview/", forms.form_preview, name="form-preview"),
    path("forms/<slug:slug>/active/", forms.form_active, name="form-active"),
    path("duplicates/", duplicates.duplicates, name="duplicates"),
    path("duplicates/dismiss/", duplicates.not_duplicate, name="not-duplicate"),
    path("duplicates/reports/<int:pk>/settle/", duplicates.settle_report, name="settle-report"),
    path("merges/<int:merge_pk>/undo/", duplicates.unmerge, name="unmerge"),
    path("<int:pk>/merge/<int:other_pk>/", duplicates.merge, name="merge"),
    path("new/", entry.lead_new, name="new"),
    path("new/check/", entry.lead_new_check, name="new-check"),
    path("<int:pk>/", leads.lead_detail, name="detail"),
    path("<int:pk>/export.json", privacy.lead_export, name="export-person"),
    path("<int:pk>/erase/", privacy.lead_erase, name="erase"),
    path("<int:pk>/edit/", leads.lead_edit, name="edit"),
    path("<int:pk>/touch/", leads.lead_touch, name="touch"),
    path("<int:pk>/move/", leads.lead_move, name="move"),
]

import_patterns = (
    [
        path("", imports.import_list, name="list"),
        path("new/", imports.import_new, name="new"),
        path("<int:pk>/", imports.import_detail, name="detail"),
        path("<int:pk>/mapping/", imports.import_mapping, name="mapping"),
        path("<int:pk>/preview/", imports.import_preview, name="preview"),
        path("<int:pk>/start/", imports.import_start, name="start"),
        path("<int:pk>/undo/", imports.import_undo, name="undo"),
        path("<int:pk>/cancel/", imports.import_cancel, name="cancel"),
        path("<int:pk>/delete/", imports.import_delete, name="delete"),
    ],
    "imports",
)

public_patterns = [
    path("f/<slug:slug>/", forms.public_submit, name="form-submit"),
    path("f/<slug:slug>/thanks/", forms.thanks, name="form-thanks"),
]
