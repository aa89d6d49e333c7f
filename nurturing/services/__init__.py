"""Nurturing's transitions, one module per subject:

- `templates`: saving (checked) and rendering email templates
- `tracks`: tracks, their steps and enrolment rules
- `enrolment`: who is in which track (by rules, by hand, in bulk) and exits
- `dispatch`: the due steps of enrolments → the outbox
- `sending`: the outbox → SMTP, checked at send time, leased, retried
- `links`: the signed unsubscribe, open and click links
- `recipients`: unsubscribes, bounces, complaints, opens and clicks
- `ticks`: the scheduler jobs that reconcile all of it by state
"""
