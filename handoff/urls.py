"""Handoff's pages (namespace `handoff`) under /handoffs/."""

from django.urls import path

from handoff import views

app_name = "handoff"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("notifications/read/", views.read_notifications, name="notifications-read"),
    path("<int:pk>/brief/", views.brief, name="brief"),
    path("<int:pk>/<slug:action>/", views.act, name="act"),
    path("teams/<int:team_id>/", views.team_board, name="team"),
]
