from django.apps import AppConfig


class LeadflowConfig(AppConfig):
    """The project package as an app: the scheduler (tick) and health check live here."""

    name = "leadflow"
    verbose_name = "LeadFlow"

    def ready(self) -> None:
        from leadflow import scheduler

        scheduler.register_builtin_jobs()
