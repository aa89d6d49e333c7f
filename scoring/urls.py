from django.urls import path

from scoring import views

app_name = "scoring"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("edit/", views.edit, name="edit"),
    path("what-if/", views.what_if, name="what-if"),
    path("versions/", views.versions, name="versions"),
    path("versions/<int:version>/", views.version, name="version"),
    path("versions/<int:version>/restore/", views.restore, name="restore"),
    path("runs/<int:pk>/", views.run, name="run"),
    path("leads/<int:pk>/panel/", views.lead_panel, name="lead-panel"),
    path("predictive/", views.predictive, name="predictive"),
    path("predictive/train/", views.predictive_train, name="predictive-train"),
    path("predictive/runs/<int:pk>/", views.predictive_run, name="predictive-run"),
]
