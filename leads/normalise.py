"""Normalisation of identity values on the way in: one place, used by every channel."""

from __future__ import annotations

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


def domain_of_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    return email.rsplit("@", 1)[1]
