"""Business-time arithmetic: when a calendar is open, and how much open time passes.

Used by `nurturing` (a send lands in the lead's business hours: `for_place`,
`next_open`) and `handoff` (a team's working calendar: SLA deadlines with `add`,
time to accept with `between`). Pure functions of the instants they are given: no
database, no wall clock.

The rules every function follows:

- **Instants are aware datetimes**; a naive one is a ValueError. Results are in UTC.
- **Open means the local wall clock says so.** An instant is open when, in the
  calendar's time zone, its local date is not closed (a public holiday of `country` /
  `subdivision` from the `holidays` package, or one of `closed`) and its local
  wall-clock time lies in one of that weekday's intervals, start included, end
  excluded. So across DST changes:
  - on the day clocks jump forward, a 09:00-17:00 day is 8 real hours, but an interval
    01:00-03:00 in Europe/Berlin is 1 real hour (02:00-03:00 never shows); a wall time
    that does not exist (02:30 there) stands for the instant of the jump;
  - on the day clocks fall back, the repeated hour counts twice, but only the part of it
    an interval covers: 01:00-03:00 in Berlin is 3 real hours, 02:00-02:30 is two
    half-hours (each time the clock shows 02:00-02:30).
- **Midnight**: an interval's end `time(0)` means the end of its day (24:00), so
  `(time(22), time(0))` on Friday and `(time(0), time(2))` on Saturday are one stretch
  from Friday 22:00 to Saturday 02:00. No interval crosses midnight by itself; split an
  overnight shift over two days like that. `(time(0), time(0))` is the whole day.
- **Bounded**: a calendar without a single open hour a week is refused when built, and a
  forward search (`next_open`, `add`) that finds no open time on `SEARCH_LIMIT_DAYS`
  local days in a row raises `NoOpenTime`, naming the calendar (a year of closed days).
- **Cost**: `add` and `between` walk local days, not minutes; each calendar keeps the
  open spans of the days it has seen (deterministic data, so a per-process memo).

The tz database is assumed to change a zone's UTC offset at most once within three
days, as it does for every zone in use.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path

import holidays

Interval = tuple[time, time]
DayHours = tuple[Interval, ...]
WeeklyHours = tuple[DayHours, ...]  # seven entries, Monday first (`date.weekday()`)

SEARCH_LIMIT_DAYS = 366
# Where most people of a country of several zones live, when the tz database lists an
# edge zone first (its order is geographic, not by population).
MAIN_ZONES = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney", "BR": "America/Sao_Paulo",
    "CA": "America/Toronto", "CL": "America/Santiago", "CD": "Africa/Kinshasa",
    "EC": "America/Guayaquil", "ES": "Europe/Madrid", "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty", "MX": "America/Mexico_City", "MN": "Asia/Ulaanbaatar",
    "NZ": "Pacific/Auckland", "PT": "Europe/Lisbon", "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv", "US": "America/New_York",
}  # fmt: skip
ZERO = timedelta(0)
_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MIDNIGHT = time(0)
# The memo of a calendar's open spans is cleared past this many days (about 27 years).
_SPANS_MEMO_SIZE = 10_000


class NoOpenTime(ValueError):
    """A forward search found no open time within `SEARCH_LIMIT_DAYS` local days."""


def weekly_hours(*intervals: Interval, days: Iterable[int] = range(5)) -> WeeklyHours:
    """The same `intervals` on each of `days` (0 = Monday … 6 = Sunday), closed on the
    other days: `weekly_hours((time(9), time(12)), (time(13), time(17)))` is weekdays
    with a lunch break."""
    chosen = set(days)
    if not chosen <= set(range(7)):
        raise ValueError(f"Days are 0 (Monday) to 6 (Sunday), not {sorted(chosen)}.")
    return tuple(tuple(intervals) if weekday in chosen else () for weekday in range(7))


DEFAULT_HOURS: WeeklyHours = weekly_hours((time(9), time(17)))


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """A working calendar: weekly local hours in a time zone, less closed days.

    `hours` has seven entries, Monday first, each a tuple of (start, end) local times,
    naive, in any order, not overlapping (touching is fine: they join); an end of
    `time(0)` is midnight at the end of the day. `country` (ISO 3166-1 alpha-2) and
    `subdivision` (a state or region the `holidays` package knows for the country, e.g.
    DE "BY", US "MA") close their public holidays; `closed` adds other dates. `name` is
    only for messages (e.g. the team's name). Built values are checked: an unknown time
    zone, country or subdivision, an inverted, empty or overlapping interval, or a week
    without open hours is a ValueError.
    """

    time_zone: str
    hours: WeeklyHours = DEFAULT_HOURS
    country: str = ""
    subdivision: str = ""
    closed: frozenset[date] = frozenset()
    name: str = ""
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    # (local date ordinal) -> that day's open spans as UTC instants, sorted and joined.
    _spans: dict[int, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        zone = _load_zone(self.time_zone)
        if zone is None:
            raise ValueError(
                f"{self.time_zone!r} is not a time zone; use an IANA name, e.g. Europe/Berlin."
            )
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "hours", _checked_hours(self.hours))
        _check_holiday_place(self.country, self.subdivision)
        closed = frozenset(self.closed)
        if any(isinstance(day, datetime) or not isinstance(day, date) for day in closed):
            raise ValueError("Closed days are dates (datetime.date), not instants.")
        object.__setattr__(self, "closed", closed)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._zone

    def __str__(self) -> str:
        if self.name:
            return self.name
        place = "-".join(part for part in (self.country, self.subdivision) if part)
        return f"{self.time_zone} ({place})" if place else self.time_zone

    def _local_ordinal(self, at: datetime) -> int:
        return at.astimezone(self._zone).toordinal()

    def _day_spans(self, ordinal: int) -> tuple[tuple[datetime, datetime], ...]:
        spans = self._spans.get(ordinal)
        if spans is None:
            if len(self._spans) >= _SPANS_MEMO_SIZE:
                self._spans.clear()
            spans = self._spans[ordinal] = self._compute_spans(date.fromordinal(ordinal))
        return spans

    def _compute_spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        intervals = self.hours[day.weekday()]
        if not intervals or day in self.closed or self._is_holiday(day):
            return ()
        # The local wall-clock midnight of `day`, written as if it were UTC: subtracting a
        # UTC offset from a wall time gives the instant.
        wall = datetime(day.year, day.month, day.day, tzinfo=UTC)
        segments = _offset_segments(self._zone, wall - _DAY, wall + 2 * _DAY)
        pieces = []
        for start, end in intervals:
            wall_start = wall + _since_midnight(start)
            wall_end = wall + (_DAY if end == _MIDNIGHT else _since_midnight(end))
            # Each stretch of one UTC offset holds the instants whose wall time, at that
            # offset, is in the interval: none in a gap, two pieces across a fall-back.
            for low, high, offset in segments:
                piece_start = max(wall_start - offset, low)
                piece_end = min(wall_end - offset, high)
                if piece_start < piece_end:
                    pieces.append((piece_start, piece_end))
        return _joined(sorted(pieces))

    def _is_holiday(self, day: date) -> bool:
        if not self.country:
            return False
        return day in _holiday_dates(self.country, self.subdivision, day.year)

    def _spans_from(self, at: datetime) -> Iterator[tuple[datetime, datetime] | None]:
        """The open spans after `at` in order, the first cut to start at `at`; None after
        each local day (so a caller can count days without open time)."""
        ordinal = self._local_ordinal(at)
        while True:
            for start, end in self._day_spans(ordinal):
                if end > at:
                    yield (start if start > at else at), end
            yield None
            ordinal += 1


def is_open(calendar: Calendar, at: datetime) -> bool:
    """Whether `calendar` is open at the instant `at` (see the module's rules)."""
    at = _utc(at)
    return any(start <= at < end for start, end in calendar._day_spans(calendar._local_ordinal(at)))


def next_open(calendar: Calendar, at: datetime) -> datetime:
    """`at` itself (in UTC) when `calendar` is open then, else the next instant it opens:
    a step due at night waits for the morning. NoOpenTime past the search limit."""
    at = _utc(at)
    for span in _bounded(calendar, calendar._spans_from(at), at):
        return span[0]
    raise AssertionError("unreachable: _bounded ends only by raising")


def add(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant (UTC) by which `duration` of open time has passed since
    `start`: "accept within 4 business hours" is `add(calendar, handed_at, 4 h)`.

    A deadline reached at closing time is that closing instant, not the next opening;
    a zero duration gives `start`. A negative duration is a ValueError; NoOpenTime when
    the search limit passes without open time.
    """
    start = _utc(start)
    if duration < ZERO:
        raise ValueError(f"A duration of business time is not negative ({duration}).")
    if duration == ZERO:
        return start
    remaining = duration
    for span_start, span_end in _bounded(calendar, calendar._spans_from(start), start):
        length = span_end - span_start
        if remaining <= length:
            return span_start + remaining
        remaining -= length
    raise AssertionError("unreachable: _bounded ends only by raising")


def between(calendar: Calendar, a: datetime, b: datetime) -> timedelta:
    """The open time of `calendar` from `a` to `b`; negative when `b` is before `a`
    (so `between(c, a, b) + between(c, b, d) == between(c, a, d)` for any order).
    Never searches past `b`, so no limit applies."""
    a, b = _utc(a), _utc(b)
    if b < a:
        return -between(calendar, b, a)
    total = ZERO
    last = calendar._local_ordinal(b)
    ordinal = calendar._local_ordinal(a)
    while ordinal <= last:
        for start, end in calendar._day_spans(ordinal):
            if end > a and start < b:
                total += min(end, b) - max(start, a)
        ordinal += 1
    return total


def add_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """`days` business days after `start` (UTC): the same local clock time on the
    `days`-th following local day that has open time — a wait of 2 business days from
    Friday 10:00 ends Tuesday 10:00, a holiday between not counted. A clock time the
    day does not have (a DST gap) is read as the clocks show it after the jump.
    NoOpenTime when `SEARCH_LIMIT_DAYS` days in a row have no open time."""
    if days < 0:
        raise ValueError(f"A number of business days is not negative ({days}).")
    at = _utc(start).astimezone(calendar.zone)
    ordinal, idle = at.date().toordinal(), 0
    for _ in range(days):
        ordinal += 1
        while not calendar._day_spans(ordinal):
            ordinal, idle = ordinal + 1, idle + 1
            if idle >= SEARCH_LIMIT_DAYS:
                raise NoOpenTime(
                    f"Calendar {calendar} has no open day within {SEARCH_LIMIT_DAYS} days "
                    f"after {start.isoformat()}."
                )
        idle = 0
    wall = datetime.combine(date.fromordinal(ordinal), at.time())
    return _utc(wall.replace(tzinfo=calendar.zone))


def local(calendar: Calendar, at: datetime) -> datetime:
    """`at` as the calendar's local (aware) time, for pages: "Tue 09:00 in Berlin"."""
    return _utc(at).astimezone(calendar.zone)


def for_place(*, time_zone: str = "", country: str = "", default_time_zone: str) -> Calendar:
    """A lead's calendar: weekdays 09:00-17:00 (`DEFAULT_HOURS`) in its time zone, less
    its country's public holidays when the `holidays` package knows the country.

    The time zone is `time_zone` when it is an IANA name, else the country's main zone
    (`country_time_zone`: Europe/Berlin for DE, America/New_York for US,
    Australia/Sydney for AU; a lead elsewhere in a country of several zones wants its own
    `time_zone`), else `default_time_zone` (which must be valid).
    """
    country = country.strip().upper()
    zone_name = time_zone.strip()
    if _load_zone(zone_name) is None:
        zone_name = country_time_zone(country) or default_time_zone
    holiday_country = country if _holidays_know(country) else ""
    return Calendar(time_zone=zone_name, country=holiday_country)


def country_time_zone(country: str) -> str:
    """The main time zone of an ISO 3166-1 alpha-2 `country`: MAIN_ZONES for the large
    countries of several zones whose first-listed zone is an edge one (AU would be Lord
    Howe Island, CA Newfoundland), else the first zone the system's tz database lists
    for it ("" when it lists none, or no table is found)."""
    code = country.strip().upper()
    return MAIN_ZONES.get(code) or _country_zones().get(code, "")


# --- helpers -----------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"An instant is a datetime, not {type(at).__name__}.")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} is naive; business time takes aware instants only.")
    return at.astimezone(UTC)


def _bounded(
    calendar: Calendar, spans: Iterator[tuple[datetime, datetime] | None], at: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The spans, raising NoOpenTime after `SEARCH_LIMIT_DAYS` local days in a row
    without open time."""
    idle_days = 0
    for span in spans:
        if span is not None:
            idle_days = -1  # the end-of-day marker that follows resets the count to 0
            yield span
            continue
        idle_days += 1
        if idle_days >= SEARCH_LIMIT_DAYS:
            raise NoOpenTime(
                f"Calendar {calendar} has no open time within {SEARCH_LIMIT_DAYS} days "
                f"after {at.isoformat()}."
            )


def _since_midnight(moment: time) -> timedelta:
    return timedelta(
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        microseconds=moment.microsecond,
    )


def _checked_hours(hours: Iterable[Iterable[Interval]]) -> WeeklyHours:
    days = tuple(tuple(tuple(interval) for interval in day) for day in hours)
    if len(days) != 7:
        raise ValueError(f"Weekly hours have 7 days, Monday first; got {len(days)}.")
    checked = []
    for weekday, intervals in enumerate(days):
        for interval in intervals:
            if len(interval) != 2 or not all(
                isinstance(moment, time) and moment.tzinfo is None for moment in interval
            ):
                raise ValueError(
                    f"Day {weekday}: an interval is (start, end) of naive local times, "
                    f"not {interval!r}."
                )
        spans = sorted(
            (_since_midnight(start), _DAY if end == _MIDNIGHT else _since_midnight(end))
            for start, end in intervals
        )
        for start, end in spans:
            if start >= end:
                raise ValueError(f"Day {weekday}: an interval ends at or before its start.")
        for (_, end), (next_start, _) in pairwise(spans):
            if next_start < end:
                raise ValueError(f"Day {weekday}: intervals overlap.")
        checked.append(tuple(sorted(intervals, key=lambda interval: interval[0])))
    if not any(checked):
        raise ValueError("A calendar needs open hours on at least one day of the week.")
    return tuple(checked)


def _offset_segments(
    zone: zoneinfo.ZoneInfo, low: datetime, high: datetime
) -> tuple[tuple[datetime, datetime, timedelta], ...]:
    """[low, high) cut where the zone's UTC offset changes, each piece with its offset
    (at most one change in the window: see the module's note)."""
    low_offset = low.astimezone(zone).utcoffset()
    high_offset = high.astimezone(zone).utcoffset()
    assert low_offset is not None and high_offset is not None  # noqa: S101 (zoneinfo always has one)
    if low_offset == high_offset:
        return ((low, high, low_offset),)
    # Bisect to the second: tz database changes happen on whole seconds, and only a few
    # days a year get here (their spans are then memoised).
    before, after = low, high
    while after - before > _SECOND:
        middle = before + timedelta(seconds=(after - before) // _SECOND // 2)
        if middle.astimezone(zone).utcoffset() == low_offset:
            before = middle
        else:
            after = middle
    return ((low, after, low_offset), (after, high, high_offset))


def _joined(
    spans: list[tuple[datetime, datetime]],
) -> tuple[tuple[datetime, datetime], ...]:
    joined: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return tuple(joined)


def _load_zone(name: str) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=512)
def _holidays(country: str, subdivision: str) -> holidays.HolidayBase:
    """The `holidays` object of a place (NotImplementedError when it knows none)."""
    return holidays.country_holidays(country, subdiv=subdivision or None)


def _check_holiday_place(country: str, subdivision: str) -> None:
    if subdivision and not country:
        raise ValueError(f"A subdivision ({subdivision!r}) needs its country.")
    if not country:
        return
    if not _holidays_know(country):
        raise ValueError(
            f"The holidays package knows no country {country!r}; use an ISO 3166-1 "
            "alpha-2 code, e.g. DE."
        )
    try:
        _holidays(country, subdivision)
    except NotImplementedError:
        known = ", ".join(holidays.list_supported_countries()[country])
        raise ValueError(
            f"The holidays package knows no subdivision {subdivision!r} of {country} "
            f"(it knows: {known or 'none'})."
        ) from None


def _holidays_know(country: str) -> bool:
    if not country:
        return False
    try:
        _holidays(country, "")
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=4096)
def _holiday_dates(country: str, subdivision: str, year: int) -> frozenset[date]:
    # A fresh object per year, not the shared `_holidays` one: `holidays` fills a year in
    # on first use (a mutation), which threads should not share. Readers get a frozen set.
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, str]:
    """Each country's first zone in zone.tab (one country a line, so a country's own
    zone names: Norway gets Europe/Oslo), else zone1970.tab, from the system's tz
    database (`zoneinfo.TZPATH`) or the `tzdata` package."""
    for table in ("zone.tab", "zone1970.tab"):
        text = _tz_table(table)
        if text is None:
            continue
        zones: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) >= 3 and _load_zone(columns[2]) is not None:
                for code in columns[0].split(","):
                    zones.setdefault(code, columns[2])
        return zones
    return {}


def _tz_table(name: str) -> str | None:
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None
