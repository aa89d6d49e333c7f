from django.apps import AppConfig


class LeadsConfig(AppConfig):
    """The base app: leads, their identity, stages, timeline, campaigns and teams."""

    name = "leads"

    def ready(self) -> None:
        from leadflow.scheduler import tick_job
        from leads.services import erasure
        from leads.services.imports.upkeep import upkeep

        tick_job("leads.imports", every=5 * 60)(upkeep)
        erasure.register()
