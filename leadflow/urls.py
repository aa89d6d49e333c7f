from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from dashboards import api as dashboards_api
from dashboards import views as dashboards_views
from handoff.api import HandoffViewSet
from leadflow.auth import ThrottledAuthenticationForm
from leadflow.views import healthz
from leads.api.imports import ImportJobViewSet
from leads.api.leads import BulkEventsView, CustomFieldViewSet, LeadViewSet
from leads.urls import import_patterns, public_patterns
from nurturing import api as nurturing_api
from nurturing.urls import page_patterns as nurture_pages
from scoring import api as scoring_api

router = DefaultRouter()
router.register("leads", LeadViewSet, basename="lead")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("imports", ImportJobViewSet, basename="import")
router.register("handoffs", HandoffViewSet, basename="handoff")

urlpatterns = [
    path("", dashboards_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=ThrottledAuthenticationForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("leads/", include("leads.urls")),
    path("imports/", include(import_patterns)),
    path("scoring/", include("scoring.urls")),
    path("handoffs/", include("handoff.urls")),
    path("nurturing/", include(nurture_pages)),
    path("dashboards/", include("dashboards.urls")),
    *public_patterns,
    path("", include("nurturing.urls")),
    path("api/v1/events/", BulkEventsView.as_view(), name="events-bulk"),
    path("api/v1/email-events/", nurturing_api.EmailEventsView.as_view(), name="email-events"),
    path("api/v1/tracks/", nurturing_api.TracksView.as_view(), name="tracks"),
    path(
        "api/v1/leads/<int:pk>/emails/", nurturing_api.LeadEmailsView.as_view(), name="lead-emails"
    ),
    path("api/v1/leads/<int:pk>/score/", scoring_api.LeadScoreView.as_view(), name="lead-score"),
    path("api/v1/scoring-models/", scoring_api.ScoringModelsView.as_view(), name="scoring-models"),
    path("api/v1/scoring-models/what-if/", scoring_api.WhatIfView.as_view(), name="what-if"),
    path("api/v1/funnel/", dashboards_api.FunnelView.as_view(), name="funnel"),
    path(
        "api/v1/dashboards/<slug:board>/",
        dashboards_api.DashboardTablesView.as_view(),
        name="dashboard-tables",
    ),
    path("api/v1/predictive/", scoring_api.PredictiveView.as_view(), name="predictive"),
    path(
        "api/v1/predictive/train/",
        scoring_api.PredictiveTrainView.as_view(),
        name="predictive-train",
    ),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

# Pages in the app's layout; JSON under /api/ (leads.views.http_errors).
handler400 = "leads.views.http_errors.bad_request"
handler403 = "leads.views.http_errors.permission_denied"
handler404 = "leads.views.http_errors.page_not_found"
