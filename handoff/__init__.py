"""Handoff: routing MQLs to one rep under an SLA (uses `leads`, `scoring`, `nurturing`)."""
