from django.urls import path

from leads import import_views

app_name = "imports"
urlpatterns = [
    path("", import_views.import_list, name="list"),
    path("new/", import_views.import_new, name="new"),
    path("<int:pk>/", import_views.import_detail, name="detail"),
    path("<int:pk>/mapping/", import_views.import_mapping, name="mapping"),
    path("<int:pk>/preview/", import_views.import_preview, name="preview"),
    path("<int:pk>/start/", import_views.import_start, name="start"),
    path("<int:pk>/undo/", import_views.import_undo, name="undo"),
]
