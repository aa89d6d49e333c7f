from django.apps import AppConfig


class LeadsConfig(AppConfig):
    """The base app: leads, their identity, stages, timeline, campaigns and teams."""

    name = "leads"
