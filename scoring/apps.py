from django.apps import AppConfig


class ScoringConfig(AppConfig):
    """Scores every lead: registers for the leads app's announcements and a tick job."""

    name = "scoring"

    def ready(self) -> None:
        from django.utils import timezone

        from leadflow.scheduler import tick_job
        from leads import hooks
        from scoring import services

        def lead_changed(*, lead_id: int) -> None:
            services.score_lead(lead_id=lead_id, now=timezone.now())

        def event_recorded(*, lead_id: int, activity_id: int) -> None:
            services.record_event_points(
                lead_id=lead_id, activity_id=activity_id, now=timezone.now()
            )

        def events_moved(*, lead_ids: list[int]) -> None:
            services.events_moved(lead_ids=lead_ids, now=timezone.now())

        def leads_changed_in_bulk() -> None:
            from scoring.tasks import score_changed

            score_changed.delay()  # announcements run after commit: the leads are there

        hooks.register("lead_changed", lead_changed)
        hooks.register("leads_changed_in_bulk", leads_changed_in_bulk)
        hooks.register("events_moved", events_moved)
        hooks.register("event_recorded", event_recorded)
        tick_job("scoring.tick")(services.tick)
        __import__("scoring.panels").panels.register()  # the score panel on the lead page
