"""Nurturing: drip tracks and their exactly-once outbox (uses `leads`, `scoring`)."""
