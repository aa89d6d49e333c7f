from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Scores every lead: registers for the leads app's announcements and a tick job."""

    name = "scoring"

    def ready(self) -> None:
        from leadflow.scheduler import tick_job
        from leads import hooks
        from scoring import handlers, panels, services
        from scoring.services import erasure, predictive

        hooks.register("lead_changed", handlers.lead_changed)
        hooks.register("events_recorded", handlers.events_recorded)
        hooks.register("leads_merged", handlers.leads_merged)
        hooks.register("leads_unmerged", handlers.leads_unmerged)
        hooks.register("leads_changed_in_bulk", handlers.leads_changed_in_bulk)
        tick_job("scoring.tick")(services.tick)
        tick_job("scoring.decay", every=services.DECAY_EVERY_SECONDS)(services.passes.decay)
        tick_job("scoring.lost_runs")(services.passes.resume_lost_runs)
        tick_job("scoring.predictive", every=predictive.EVERY)(predictive.scheduled)
        panels.register()  # the score panel on the lead page
        erasure.register()  # what it holds about a person: export and erasure
