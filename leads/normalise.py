"""Normalisation of identity values on the way in: one place, used by every channel."""

from __future__ import annotations

from urllib.parse import urlsplit

import phonenumbers


def normalise_email(raw: str | None) -> str | None:
    """Trimmed and lower-cased; empty means none."""
    if raw is None:
        return None
    value = raw.strip().lower()
    return value or None


def normalise_phone(raw: str | None, *, country: str = "") -> str | None:
    """E.164 (`+4930123456`); national numbers are read in the lead's country.

    Raises ValueError with a message for people when the number cannot be read.
    """
    if raw is None or not raw.strip():
        return None
    region = country.upper() if country else None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "Enter the phone number in international form, e.g. +44 20 7946 0958"
            + ("" if region else ", or give the lead's country")
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("This phone number has the wrong number of digits.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_external_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    return value or None


# Addresses at these domains say nothing about the company.
FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "ymail.com",
        "rocketmail.com",
        "outlook.com",
        "outlook.de",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "live.com",
        "live.co.uk",
        "live.fr",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "tutanota.com",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "inbox.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "virgilio.it",
        "btinternet.com",
        "sky.com",
        "comcast.net",
        "verizon.net",
        "att.net",
    ]
)


def domain_of_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    return email.rsplit("@", 1)[1]


def is_free_mail(domain: str) -> bool:
    return domain.lower() in FREE_MAIL_DOMAINS


def domain_of_website(website: str | None) -> str:
    """`https://www.Acme.com/about` → `acme.com`."""
    if not website or not website.strip():
        return ""
    text = website.strip().lower()
    if "://" not in text:
        text = f"http://{text}"
    host = urlsplit(text).hostname or ""
    return host.removeprefix("www.")


def company_domain(*, email: str | None, website: str | None) -> str:
    """The company's domain: from the website, else from a non-free-mail email address."""
    domain = domain_of_website(website)
    if domain:
        return domain
    domain = domain_of_email(email)
    return "" if is_free_mail(domain) else domain
