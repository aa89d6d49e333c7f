from django.urls import path

from leads import campaign_views, views, webform_views

app_name = "leads"
urlpatterns = [
    path("", views.lead_list, name="list"),
    path("export.csv", views.lead_export, name="export"),
    path("bulk/", views.lead_bulk, name="bulk"),
    path("views/", views.saved_view_save, name="view-save"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="view-delete"),
    path("custom-fields/", views.custom_fields, name="custom-fields"),
    path("campaigns/", campaign_views.campaigns, name="campaigns"),
    path("forms/", webform_views.form_list, name="forms"),
    path("forms/<slug:slug>/", webform_views.form_detail, name="form-detail"),
    path("duplicates/", views.duplicates, name="duplicates"),
    path("duplicates/dismiss/", views.not_duplicate, name="not-duplicate"),
    path("merges/<int:merge_pk>/undo/", views.unmerge, name="unmerge"),
    path("<int:pk>/merge/<int:other_pk>/", views.merge, name="merge"),
    path("<int:pk>/", views.lead_detail, name="detail"),
    path("<int:pk>/edit/", views.lead_edit, name="edit"),
    path("<int:pk>/touch/", views.lead_touch, name="touch"),
    path("<int:pk>/move/", views.lead_move, name="move"),
]
