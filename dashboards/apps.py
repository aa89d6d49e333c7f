from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Read-only dashboards: nothing imports this app. It reads the other apps' tables and
    keeps its own rollups, brought up to date by its scheduler job `dashboards.rollup`."""

    name = "dashboards"

    def ready(self) -> None:
        from dashboards.services import rollup
        from leadflow.scheduler import tick_job

        tick_job("dashboards.rollup")(rollup.tick)
