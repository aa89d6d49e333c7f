"""Scoring: fit, engagement, grade and the MQL definition (uses `leads`)."""
