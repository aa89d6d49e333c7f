"""The dashboards' pages, under /dashboards/ (namespace `dashboards`)."""

from django.urls import path
from django.views.generic import RedirectView

from dashboards import views

app_name = "dashboards"
urlpatterns = [
    path(
        "",
        RedirectView.as_view(pattern_name="dashboards:page", query_string=True),
        {"slug": "funnel"},
        name="index",
    ),
    path("<slug:slug>/", views.dashboard, name="page"),
]
