"""Nurturing's URLs: `urlpatterns`, the public ones (namespace `nurturing`) at the root
(/u/ is the contract's unsubscribe address); `page_patterns`, marketing's pages under
/nurturing/ (namespace `nurture`)."""

from django.urls import path

from nurturing import views
from nurturing.pages import emails, outbox, tracks

app_name = "nurturing"
urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("n/o/<str:token>.gif", views.opened, name="open"),
    path("n/c/<str:token>/", views.clicked, name="click"),
]

page_patterns = (
    [
        path("", tracks.track_list, name="tracks"),
        path("tracks/<int:pk>/", tracks.track_detail, name="track"),
        path("tracks/<int:pk>/active/", tracks.track_active, name="track-active"),
        path("tracks/<int:pk>/steps/", tracks.step_add, name="step-add"),
        path("tracks/<int:pk>/rules/", tracks.rule_add, name="rule-add"),
        path("steps/<int:pk>/", tracks.step_edit, name="step-edit"),
        path("steps/<int:pk>/move/", tracks.step_move, name="step-move"),
        path("steps/<int:pk>/remove/", tracks.step_remove, name="step-remove"),
        path("rules/<int:pk>/remove/", tracks.rule_remove, name="rule-remove"),
        path("templates/", emails.template_list, name="templates"),
        path("templates/new/", emails.template_edit, name="template-new"),
        path("templates/<int:pk>/", emails.template_edit, name="template"),
        path("templates/<int:pk>/preview/", emails.template_preview, name="template-preview"),
        path("templates/<int:pk>/test/", emails.template_test, name="template-test"),
        path("templates/<int:pk>/delete/", emails.template_delete, name="template-delete"),
        path("outbox/", outbox.outbox, name="outbox"),
        path("outbox/<int:pk>/retry/", outbox.retry, name="retry"),
    ],
    "nurture",
)
