"""Business-time arithmetic (`leadflow.business_time`): nights, weekends, public holidays
and DST changes, at fixed instants; properties over random instants near the DST jumps."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.business_time import (
    DEFAULT_HOURS,
    SEARCH_LIMIT_DAYS,
    Calendar,
    NoOpenTime,
    add,
    add_days,
    between,
    country_time_zone,
    for_place,
    is_open,
    local,
    next_open,
    weekly_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
HOUR = timedelta(hours=1)
EVERY_DAY = range(7)
ALL_DAY = (time(0), time(0))

germany = Calendar(time_zone="Europe/Berlin", country="DE")
bavaria = Calendar(time_zone="Europe/Berlin", country="DE", subdivision="BY")
united_states = Calendar(time_zone="America/New_York", country="US")
with_lunch = Calendar(
    time_zone="Europe/Berlin", hours=weekly_hours((time(9), time(12)), (time(13), time(17)))
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def sydney(*args: int) -> datetime:
    return datetime(*args, tzinfo=SYDNEY)


def every_day(*intervals: tuple[time, time], time_zone: str = "Europe/Berlin") -> Calendar:
    return Calendar(time_zone=time_zone, hours=weekly_hours(*intervals, days=EVERY_DAY))


# --- nights, weekends, lunch, midnight ------------------------------------------------


def test_a_friday_afternoon_plus_one_business_hour_is_monday_morning():
    deadline = add(germany, berlin(2026, 11, 27, 16, 30), HOUR)  # a Friday
    assert deadline == berlin(2026, 11, 30, 9, 30)
    assert deadline.tzinfo is UTC
    assert deadline == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


def test_a_step_due_at_night_waits_for_the_morning():
    assert next_open(germany, berlin(2026, 11, 24, 23, 0)) == berlin(2026, 11, 25, 9, 0)
    assert next_open(germany, berlin(2026, 11, 25, 3, 0)) == berlin(2026, 11, 25, 9, 0)
    assert next_open(germany, berlin(2026, 11, 27, 23, 0)) == berlin(2026, 11, 30, 9, 0)


def test_an_instant_in_business_hours_is_its_own_next_opening_and_closing_time_is_not_open():
    at = berlin(2026, 11, 25, 10, 15)
    assert is_open(germany, at)
    assert next_open(germany, at) == at
    assert is_open(germany, berlin(2026, 11, 25, 9, 0))
    assert not is_open(germany, berlin(2026, 11, 25, 17, 0))


def test_a_deadline_reached_at_closing_time_is_closing_time_not_the_next_morning():
    assert add(germany, berlin(2026, 11, 25, 16, 0), HOUR) == berlin(2026, 11, 25, 17, 0)


def test_zero_business_time_is_the_start_itself():
    at = berlin(2026, 11, 28, 12, 0)  # a Saturday
    assert add(germany, at, timedelta(0)) == at


def test_a_week_of_default_hours_is_forty_hours_and_the_weekend_none():
    assert between(germany, berlin(2026, 11, 23), berlin(2026, 11, 30)) == 40 * HOUR
    assert between(germany, berlin(2026, 11, 28), berlin(2026, 11, 30)) == timedelta(0)


def test_between_is_negative_when_the_end_comes_first():
    a, b = berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 25, 12, 30)
    assert between(germany, b, a) == -between(germany, a, b) == -timedelta(hours=2, minutes=30)


def test_a_lunch_break_is_not_business_time():
    assert not is_open(with_lunch, berlin(2026, 11, 25, 12, 30))
    assert next_open(with_lunch, berlin(2026, 11, 25, 12, 30)) == berlin(2026, 11, 25, 13, 0)
    assert add(with_lunch, berlin(2026, 11, 25, 11, 30), HOUR) == berlin(2026, 11, 25, 13, 30)
    assert between(with_lunch, berlin(2026, 11, 25), berlin(2026, 11, 26)) == 7 * HOUR


def test_intervals_may_be_given_in_any_order_and_touching_ones_join():
    shuffled = Calendar(
        time_zone="Europe/Berlin",
        hours=weekly_hours((time(12), time(17)), (time(9), time(12))),
    )
    assert shuffled.hours[0] == ((time(9), time(12)), (time(12), time(17)))
    assert is_open(shuffled, berlin(2026, 11, 25, 12, 0))
    assert between(shuffled, berlin(2026, 11, 25), berlin(2026, 11, 26)) == 8 * HOUR


def test_an_interval_ending_at_midnight_runs_on_into_the_next_days_early_hours():
    late_shift = Calendar(
        time_zone="Europe/Berlin",
        hours=(
            (),
            (),
            (),
            (),
            ((time(22), time(0)),),  # Friday until midnight
            ((time(0), time(2)),),  # and on into Saturday
            (),
        ),
    )
    assert is_open(late_shift, berlin(2026, 11, 27, 23, 59))
    assert is_open(late_shift, berlin(2026, 11, 28, 0, 0))
    assert not is_open(late_shift, berlin(2026, 11, 28, 2, 0))
    assert add(late_shift, berlin(2026, 11, 27, 23, 30), HOUR) == berlin(2026, 11, 28, 0, 30)
    assert between(late_shift, berlin(2026, 11, 27), berlin(2026, 11, 29)) == 4 * HOUR


def test_a_whole_day_interval_is_twenty_four_hours():
    always = every_day(ALL_DAY)
    assert between(always, berlin(2026, 11, 25), berlin(2026, 11, 26)) == 24 * HOUR
    assert add(always, berlin(2026, 11, 25, 23), 2 * HOUR) == berlin(2026, 11, 26, 1)


def test_instants_in_any_time_zone_mean_the_same_moment():
    in_tokyo = datetime(2026, 11, 27, 17, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 09:30 Berlin
    assert is_open(germany, in_tokyo)
    assert add(germany, in_tokyo, HOUR) == berlin(2026, 11, 27, 10, 30)


def test_local_shows_an_instant_in_the_calendars_time_zone():
    shown = local(germany, datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    assert (shown.hour, shown.utcoffset(), shown.tzinfo) == (9, 2 * HOUR, BERLIN)


# --- holidays and closed days -----------------------------------------------------------


def test_german_christmas_is_skipped():
    # Wednesday 24 December 2025; the 25th and 26th are public holidays.
    assert add(germany, berlin(2025, 12, 24, 16, 30), HOUR) == berlin(2025, 12, 29, 9, 30)
    assert not is_open(germany, berlin(2025, 12, 25, 10, 0))


def test_good_friday_and_easter_monday_are_skipped_in_germany():
    assert add(germany, berlin(2026, 4, 2, 16, 30), HOUR) == berlin(2026, 4, 7, 9, 30)


def test_thanksgiving_is_skipped_in_the_united_states_only():
    # Wednesday 25 November 2026; Thanksgiving is the 26th.
    assert add(united_states, new_york(2026, 11, 25, 16, 30), HOUR) == new_york(2026, 11, 27, 9, 30)
    no_holidays = Calendar(time_zone="America/New_York")
    assert is_open(no_holidays, new_york(2026, 11, 26, 10, 0))


def test_epiphany_is_skipped_in_bavaria_but_not_in_all_of_germany():
    monday_evening = berlin(2026, 1, 5, 16, 30)  # Epiphany is Tuesday the 6th
    assert add(bavaria, monday_evening, HOUR) == berlin(2026, 1, 7, 9, 30)
    assert add(germany, monday_evening, HOUR) == berlin(2026, 1, 6, 9, 30)


def test_patriots_day_is_skipped_in_massachusetts_only():
    massachusetts = Calendar(time_zone="America/New_York", country="US", subdivision="MA")
    friday_evening = new_york(2026, 4, 17, 16, 30)  # Patriots' Day is Monday the 20th
    assert add(massachusetts, friday_evening, HOUR) == new_york(2026, 4, 21, 9, 30)
    assert add(united_states, friday_evening, HOUR) == new_york(2026, 4, 20, 9, 30)


def test_extra_closed_days_are_skipped():
    closed_monday = Calendar(
        time_zone="Europe/Berlin", country="DE", closed=frozenset({date(2026, 11, 30)})
    )
    assert add(closed_monday, berlin(2026, 11, 27, 16, 30), HOUR) == berlin(2026, 12, 1, 9, 30)
    assert next_open(closed_monday, berlin(2026, 11, 28, 12)) == berlin(2026, 12, 1, 9)


def test_a_year_without_open_time_stops_the_search_with_an_error_naming_the_calendar():
    mondays = {date(2026, 1, 5) + timedelta(weeks=n) for n in range(120)}
    ghost = Calendar(
        time_zone="Europe/Berlin",
        hours=weekly_hours((time(9), time(17)), days=[0]),
        closed=frozenset(mondays),
        name="Team Ghost",
    )
    with pytest.raises(NoOpenTime, match=f"Team Ghost has no open time within {SEARCH_LIMIT_DAYS}"):
        next_open(ghost, berlin(2026, 1, 1))
    with pytest.raises(NoOpenTime, match="Team Ghost"):
        add(ghost, berlin(2026, 1, 1), HOUR)
    assert between(ghost, berlin(2026, 1, 1), berlin(2027, 6, 1)) == timedelta(0)


# --- DST -----------------------------------------------------------------------------

# The days clocks jump forward and fall back in 2026.
DST_DAYS = pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)


@DST_DAYS
def test_a_nine_to_five_day_is_eight_hours_on_both_dst_days(zone, spring, autumn):
    calendar = every_day((time(9), time(17)), time_zone=zone)
    tz = ZoneInfo(zone)
    for day in (spring, autumn):
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        assert between(calendar, midnight, midnight + timedelta(days=1)) == 8 * HOUR
        nine = datetime(day.year, day.month, day.day, 9, tzinfo=tz)
        assert next_open(calendar, midnight) == nine
        assert add(calendar, nine, 8 * HOUR) == datetime(
            day.year, day.month, day.day, 17, tzinfo=tz
        )


@DST_DAYS
def test_an_interval_over_the_jump_counts_only_the_hours_the_clock_shows(zone, spring, autumn):
    night = every_day((time(1), time(3)), time_zone=zone)
    tz = ZoneInfo(zone)

    def day_total(day: date) -> timedelta:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        return between(night, midnight, midnight + timedelta(days=1))

    assert day_total(spring) == HOUR  # 02:00-03:00 never shows
    assert day_total(autumn) == 3 * HOUR  # 02:00-03:00 shows twice
    assert day_total(spring - timedelta(days=1)) == 2 * HOUR


def test_a_wall_time_that_does_not_exist_stands_for_the_instant_of_the_jump():
    calendar = every_day((time(2, 30), time(4)))
    # 29 March 2026, Berlin: 02:00 CET is followed by 03:00 CEST (01:00 UTC).
    assert next_open(calendar, berlin(2026, 3, 29, 0, 0)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert between(calendar, berlin(2026, 3, 29), berlin(2026, 3, 30)) == HOUR


def test_on_the_fall_back_night_an_interval_inside_the_repeated_hour_is_open_both_times():
    calendar = every_day((time(2), time(2, 30)))
    first = datetime(2026, 10, 25, 2, 15, tzinfo=BERLIN)  # CEST, 00:15 UTC
    second = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)  # CET, 01:15 UTC
    assert is_open(calendar, first)
    assert is_open(calendar, second)
    assert not is_open(calendar, datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN))
    assert between(calendar, berlin(2026, 10, 25), berlin(2026, 10, 26)) == HOUR
    # (an ambiguous local time never equals an instant of another zone: compare in UTC)
    assert add(calendar, first, timedelta(minutes=30)) == second.astimezone(UTC)


def test_a_business_week_across_the_dst_weekend_keeps_local_hours():
    # Friday 16:00 + 2 business hours is Monday 10:00 local, whatever the offset did.
    assert add(germany, berlin(2026, 3, 27, 16), 2 * HOUR) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert add(germany, berlin(2026, 10, 23, 16), 2 * HOUR) == datetime(2026, 10, 26, 9, tzinfo=UTC)
    assert add(united_states, new_york(2026, 3, 6, 16), 2 * HOUR) == new_york(2026, 3, 9, 10)


def test_sydney_has_its_summer_time_in_the_southern_summer():
    weekdays = Calendar(time_zone="Australia/Sydney", country="AU", subdivision="NSW")
    # January: UTC+11. Friday 16 January 2026 16:30 + 1 h = Monday 09:30 AEDT.
    assert add(weekdays, sydney(2026, 1, 16, 16, 30), HOUR) == datetime(
        2026, 1, 18, 22, 30, tzinfo=UTC
    )
    # July: UTC+10.
    assert next_open(weekdays, sydney(2026, 7, 10, 20, 0)) == datetime(
        2026, 7, 12, 23, 0, tzinfo=UTC
    )
    # Australia Day, Monday 26 January 2026.
    assert not is_open(weekdays, sydney(2026, 1, 26, 10, 0))
    always = every_day(ALL_DAY, time_zone="Australia/Sydney")
    assert between(always, sydney(2026, 4, 5), sydney(2026, 4, 6)) == 25 * HOUR  # ends
    assert between(always, sydney(2026, 10, 4), sydney(2026, 10, 5)) == 23 * HOUR  # starts


# --- a lead's calendar --------------------------------------------------------------------


def test_a_leads_own_time_zone_is_used_with_its_countrys_holidays():
    calendar = for_place(time_zone="America/Chicago", country="de", default_time_zone="UTC")
    assert (calendar.time_zone, calendar.country, calendar.hours) == (
        "America/Chicago",
        "DE",
        DEFAULT_HOURS,
    )


def test_a_lead_with_an_invalid_time_zone_falls_back_to_its_countrys_then_the_default():
    assert for_place(time_zone="Mars/Olympus", country="DE", default_time_zone="UTC") == germany
    unknown = for_place(time_zone="Mars/Olympus", country="XX", default_time_zone="Europe/Paris")
    assert (unknown.time_zone, unknown.country) == ("Europe/Paris", "")
    nothing = for_place(default_time_zone="America/New_York")
    assert nothing == Calendar(time_zone="America/New_York")


def test_a_country_with_several_zones_gets_its_main_one_not_an_edge_zone():
    assert country_time_zone("US") == "America/New_York"
    assert country_time_zone("DE") == "Europe/Berlin"
    assert country_time_zone("NO") == "Europe/Oslo"  # its own name, not the zone it shares
    # The tz database lists Lord Howe Island and Newfoundland first.
    assert country_time_zone("AU") == "Australia/Sydney"
    assert country_time_zone("CA") == "America/Toronto"
    assert country_time_zone("XX") == ""


def test_business_days_keep_the_local_clock_time_and_skip_weekends_and_holidays():
    friday = datetime(2026, 12, 18, 10, tzinfo=BERLIN)
    assert add_days(germany, friday, 2) == datetime(2026, 12, 22, 10, tzinfo=BERLIN)
    # 24 to 26 December: Christmas Eve is open, the two holidays and the weekend are not.
    wednesday = datetime(2026, 12, 23, 23, 30, tzinfo=BERLIN)
    assert add_days(germany, wednesday, 2) == datetime(2026, 12, 28, 23, 30, tzinfo=BERLIN)
    assert add_days(germany, friday, 0) == friday
    # Across the autumn DST change the wall clock, not the UTC offset, is kept.
    before = datetime(2026, 10, 23, 9, tzinfo=BERLIN)
    assert add_days(germany, before, 1).astimezone(BERLIN).hour == 9
    with pytest.raises(ValueError, match="not negative"):
        add_days(germany, friday, -1)


def test_an_invalid_default_time_zone_is_an_error():
    with pytest.raises(ValueError, match="not a time zone"):
        for_place(country="XX", default_time_zone="Nowhere/Special")


# --- checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "not a time zone"),
        ({"time_zone": "../../etc/passwd"}, "not a time zone"),
        ({"time_zone": ""}, "not a time zone"),
        ({"time_zone": "UTC", "country": "XX"}, "knows no country 'XX'"),
        ({"time_zone": "UTC", "country": "DE", "subdivision": "ZZ"}, "no subdivision 'ZZ' of DE"),
        ({"time_zone": "UTC", "subdivision": "BY"}, "needs its country"),
        ({"time_zone": "UTC", "hours": weekly_hours((time(17), time(9)))}, "ends at or before"),
        ({"time_zone": "UTC", "hours": weekly_hours((time(9), time(9)))}, "ends at or before"),
        (
            {"time_zone": "UTC", "hours": weekly_hours((time(9), time(13)), (time(12), time(17)))},
            "overlap",
        ),
        ({"time_zone": "UTC", "hours": weekly_hours(days=EVERY_DAY)}, "at least one day"),
        ({"time_zone": "UTC", "hours": DEFAULT_HOURS[:6]}, "7 days"),
        (
            {"time_zone": "UTC", "hours": weekly_hours((time(9, tzinfo=UTC), time(17)))},
            "naive local times",
        ),
        ({"time_zone": "UTC", "closed": frozenset({datetime(2026, 1, 1, tzinfo=UTC)})}, "dates"),
    ],
)
def test_a_calendar_is_checked_when_built(arguments, message):
    with pytest.raises(ValueError, match=message):
        Calendar(**arguments)


def test_weekly_hours_refuses_a_day_that_is_not_a_weekday():
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        weekly_hours((time(9), time(17)), days=[7])


@pytest.mark.parametrize(
    "call",
    [
        lambda at: is_open(germany, at),
        lambda at: next_open(germany, at),
        lambda at: add(germany, at, HOUR),
        lambda at: between(germany, at, berlin(2026, 1, 1)),
        lambda at: between(germany, berlin(2026, 1, 1), at),
        lambda at: local(germany, at),
    ],
)
def test_a_naive_instant_is_refused(call):
    with pytest.raises(ValueError, match="naive"):
        call(datetime(2026, 1, 1, 12))  # noqa: DTZ001 (the point of the test)


def test_a_negative_duration_is_refused():
    with pytest.raises(ValueError, match="not negative"):
        add(germany, berlin(2026, 1, 5, 10), -HOUR)


def test_equal_calendars_are_equal_and_hash_alike_whatever_they_have_computed():
    used = Calendar(time_zone="Europe/Berlin", country="DE")
    between(used, berlin(2026, 1, 1), berlin(2026, 3, 1))
    assert used == germany
    assert hash(used) == hash(Calendar(time_zone="Europe/Berlin", country="DE"))


# --- properties ------------------------------------------------------------------------

CALENDARS = [
    germany,
    Calendar(
        time_zone="America/New_York",
        country="US",
        hours=weekly_hours((time(9), time(12)), (time(13), time(17))),
    ),
    # Intervals that touch Sydney's jumps (02:00/03:00) and midnight, every day.
    Calendar(
        time_zone="Australia/Sydney",
        country="AU",
        subdivision="NSW",
        hours=weekly_hours(
            (time(0), time(0, 30)), (time(1, 30), time(2, 45)), (time(22), time(0)), days=EVERY_DAY
        ),
    ),
    Calendar(
        time_zone="Europe/Berlin",
        hours=weekly_hours((time(2), time(2, 30)), (time(9), time(17)), days=EVERY_DAY),
        closed=frozenset({date(2026, 3, 30), date(2026, 10, 24)}),
    ),
]


def _transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """The instants (to the hour) where `zone`'s UTC offset changes in `year`."""
    hour = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    while hour.year == year:
        if (hour + HOUR).astimezone(zone).utcoffset() != hour.astimezone(zone).utcoffset():
            found.append(hour + HOUR)
        hour += HOUR
    return found


JUMPS = [jump for zone in (BERLIN, NEW_YORK, SYDNEY) for jump in _transitions(zone, 2026)]

instants = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 12, 1),  # noqa: DTZ001 (hypothesis bounds are naive)
        max_value=datetime(2027, 2, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.builds(
        lambda jump, minutes: jump + timedelta(minutes=minutes),
        st.sampled_from(JUMPS),
        st.integers(-36 * 60, 36 * 60),
    ),
)
calendars = st.sampled_from(CALENDARS)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=12))
PROPERTY = settings(max_examples=100, deadline=None)


def _open_by_the_wall_clock(calendar: Calendar, at: datetime) -> bool:
    """The rule, read straight from the local wall clock: a second opinion on `is_open`."""
    shown = at.astimezone(calendar.zone)
    day, wall = shown.date(), shown.time().replace(fold=0)
    if day in calendar.closed:
        return False
    if calendar.country and day in holidays.country_holidays(
        calendar.country, subdiv=calendar.subdivision or None, years=day.year
    ):
        return False
    return any(
        start <= wall and (end == time(0) or wall < end)
        for start, end in calendar.hours[day.weekday()]
    )


@PROPERTY
@given(calendar=calendars, at=instants)
def test_is_open_is_what_the_local_wall_clock_says(calendar, at):
    assert is_open(calendar, at) == _open_by_the_wall_clock(calendar, at)


@PROPERTY
@given(calendar=calendars, start=instants, duration=durations)
def test_the_open_time_up_to_a_deadline_is_the_duration_added(calendar, start, duration):
    deadline = add(calendar, start, duration)
    assert deadline >= start
    assert between(calendar, start, deadline) == duration
    if duration:  # the deadline is reached while open: the moment before it is open
        assert is_open(calendar, deadline - timedelta(microseconds=1))


@PROPERTY
@given(calendar=calendars, start=instants, first=durations, second=durations)
def test_add_is_monotonic_in_the_duration(calendar, start, first, second):
    shorter, longer = sorted((first, second))
    assert add(calendar, start, shorter) <= add(calendar, start, longer)


@PROPERTY
@given(calendar=calendars, first=instants, second=instants, duration=durations)
def test_add_is_monotonic_in_the_start(calendar, first, second, duration):
    earlier, later = sorted((first, second))
    assert add(calendar, earlier, duration) <= add(calendar, later, duration)


@PROPERTY
@given(calendar=calendars, at=instants)
def test_next_open_is_open_and_nothing_before_it_is(calendar, at):
    opening = next_open(calendar, at)
    assert opening >= at
    assert is_open(calendar, opening)
    assert between(calendar, at, opening) == timedelta(0)
    assert (opening == at) == is_open(calendar, at)


@PROPERTY
@given(calendar=calendars, a=instants, b=instants, c=instants)
def test_between_adds_up_over_a_split_point(calendar, a, b, c):
    assert between(calendar, a, b) + between(calendar, b, c) == between(calendar, a, c)
