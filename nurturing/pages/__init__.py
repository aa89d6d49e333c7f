"""Nurturing's pages for marketing (tracks, templates, the outbox) and what it adds to
the lead pages (the nurture panel, the "Enrol in a track" bulk action). The public pages
(unsubscribe, open pixel, clicks) are nurturing/views.py."""
