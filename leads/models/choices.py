"""The fixed vocabularies of leads: funnel stages (public contract), source channels,
consent statuses."""

from django.db import models


class Stage(models.TextChoices):
    """The funnel (public contract v1): values never change."""

    NEW = "new", "New"
    NURTURING = "nurturing", "Nurturing"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"


class Source(models.TextChoices):
    """The channel a lead (or a campaign) came through."""

    WEB_FORM = "web_form", "Web form"
    TRADE_SHOW = "trade_show", "Trade show"
    WEBINAR = "webinar", "Webinar"
    CONTENT_SYNDICATION = "content_syndication", "Content syndication"
    PURCHASED_LIST = "purchased_list", "Purchased list"
    REFERRAL = "referral", "Referral"
    PAID_SEARCH = "paid_search", "Paid search"
    ORGANIC = "organic", "Organic"
    OTHER = "other", "Other"


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"
