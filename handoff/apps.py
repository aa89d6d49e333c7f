from django.apps import AppConfig


class HandoffConfig(AppConfig):
    """Hands MQLs to reps under an SLA: registers for stage changes, its timeline entries
    and its scheduler jobs."""

    name = "handoff"

    def ready(self) -> None:
        from handoff import handlers, panels
        from handoff.services import actions, erasure, routing, sla, ticks
        from leadflow.scheduler import tick_job
        from leads import hooks
        from leads.services.timeline import register_kind
        from scoring import outcomes

        hooks.register("stage_changed", handlers.stage_changed)
        for kind, label in [
            (routing.ROUTED, "Handed off"),
            (actions.ACCEPTED, "Handoff accepted"),
            (actions.REJECTED, "Handoff rejected"),
            (actions.OUTCOME, "Outcome recorded"),
            (sla.BREACHED, "SLA breached"),
            (sla.ESCALATED, "Handoff escalated"),
        ]:
            register_kind(kind, label)
        panels.register()  # the handoff card on the lead page
        erasure.register()  # what it holds about a person: export and erasure
        # Sales rejections are outcomes the predictive model learns from: not a buyer.
        outcomes.register_negative("rejected by sales", actions.NOT_A_BUYER_SQL)
        tick_job("handoff.route")(ticks.route)
        tick_job("handoff.sla")(ticks.sla)
