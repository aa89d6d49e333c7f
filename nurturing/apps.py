from django.apps import AppConfig


class NurturingConfig(AppConfig):
    """Nurtures leads with drip tracks: registers for the leads app's announcements,
    its timeline entries and its scheduler jobs."""

    name = "nurturing"

    def ready(self) -> None:
        from leadflow.scheduler import tick_job
        from leads import hooks
        from leads.services.timeline import register_kind
        from nurturing import handlers
        from nurturing.pages import leads as pages
        from nurturing.services import dispatch, enrolment, erasure, sending, ticks

        hooks.register("stage_changed", handlers.stage_changed)
        hooks.register("consent_changed", handlers.consent_changed)
        hooks.register("leads_merged", handlers.leads_merged)
        register_kind(
            enrolment.ENROLLED,
            "Entered a nurture track",
            title=lambda data: f"Entered the track “{data.get('name', '')}”",
        )
        register_kind(enrolment.EXITED, "Left a nurture track", title=pages.exited_title)
        register_kind(dispatch.STEP, "Nurture step", title=pages.step_title)
        register_kind(
            sending.SENT,
            "Nurture email sent",
            title=lambda data: f"Nurture email sent: {data.get('subject', '')}",
        )
        pages.register()
        erasure.register()  # what it holds about a person: export and erasure
        tick_job("nurturing.enrol")(ticks.enrol)
        tick_job("nurturing.dispatch")(ticks.dispatch)
        tick_job("nurturing.sends")(ticks.sends)
