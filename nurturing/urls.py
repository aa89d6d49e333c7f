"""Nurturing's public URLs (namespace `nurturing`), at the root: /u/ is the contract's
unsubscribe address."""

from django.urls import path

from nurturing import views

app_name = "nurturing"
urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("n/o/<str:token>.gif", views.opened, name="open"),
    path("n/c/<str:token>/", views.clicked, name="click"),
]
