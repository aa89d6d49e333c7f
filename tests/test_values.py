"""Typed values read the way exports and people write them."""

from datetime import date
from decimal import Decimal

import pytest

from leads.values import parse_bool, parse_date, parse_decimal, parse_number


@pytest.mark.parametrize(
    ("raw", "value"),
    [("yes", True), ("No", False), ("TRUE", True), ("f", False), ("1", True), (0, False),
     ("", None), (None, None), (True, True)],
)  # fmt: skip
def test_yes_no_values(raw, value):
    assert parse_bool(raw) is value


@pytest.mark.parametrize("raw", ["maybe", "2", 5])
def test_other_values_are_not_yes_no(raw):
    with pytest.raises(ValueError, match="yes/no"):
        parse_bool(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1234.5", "1234.5"), ("1,234.5", "1234.5"), ("1.234,5", "1234.5"), ("12,5", "12.5"),
     ("1 234,50", "1234.50"), ("1,234", "1234"), ("1.234.567", "1234567"), ("-3", "-3"),
     (7, "7"), (2.5, "2.5")],
)  # fmt: skip
def test_numbers_with_a_decimal_point_or_comma(raw, value):
    assert parse_decimal(raw) == Decimal(value)


@pytest.mark.parametrize("raw", ["12abc", "1,2,3.4.5", "NaN", "Infinity", True])
def test_other_values_are_not_numbers(raw):
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal(raw)


def test_numbers_for_json_are_ints_when_whole():
    assert parse_number("1.000,00") == 1000 and isinstance(parse_number("1.000,00"), int)
    assert parse_number("0,25") == 0.25


@pytest.mark.parametrize(
    "raw",
    ["2026-03-01", "2026/03/01", "01.03.2026", "03/01/2026", "1 Mar 2026", "Mar 1, 2026",
     "2026-03-01T10:00:00Z", "1 March 2026"],
)  # fmt: skip
def test_dates_in_the_usual_forms(raw):
    assert parse_date(raw) == date(2026, 3, 1)


def test_a_day_over_12_first_means_day_first():
    assert parse_date("25/12/2026") == date(2026, 12, 25)


@pytest.mark.parametrize("raw", ["31/31/2026", "tomorrow", "2026-02-30"])
def test_other_values_are_not_dates(raw):
    with pytest.raises(ValueError, match="not a date"):
        parse_date(raw)
