"""The period a report covers: ``--since`` as a duration back from its end (``7d``, ``36h``, ``2w``, ``90m``) or a
date/time (``2026-03-01``, ``2026-03-01T06:00``), and ``--until`` (default now)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lakewatch.errors import ConfigError

_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_DURATION = re.compile(r"^(\d+)([mhdw])$")
EXPECTED_SINCE = ("expected a duration such as 7d, 36h, 2w or 90m, or an ISO date or date-time such as 2026-03-01 "
                  "or 2026-03-01T06:00")


class BadPeriod(ConfigError):
    """A --since or --until the report cannot use (the message names the option, the value and what was expected)."""


@dataclass(frozen=True)
class Period:
    """The half-open time range [start, end) a report covers (aware UTC datetimes), and how it was asked for."""

    start: datetime
    end: datetime
    asked: str

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC ({self.asked})"


def parse_time(option: str, text: str) -> datetime:
    """An ISO date or date-time as an aware UTC datetime (naive means UTC); BadPeriod naming `option` otherwise."""
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadPeriod(f"{option} {text!r}: {EXPECTED_SINCE}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def parse_period(since: str, until: str | None = None, now: datetime | None = None) -> Period:
    """The Period from `since` (a duration back from the end, or a date/time) to `until` (a date/time; default
    `now`, default the current time). BadPeriod names the option and value when either is unusable or the period
    is empty."""
    end = parse_time("--until", until) if until else (now or datetime.now(UTC))
    match = _DURATION.match(since.strip().lower())
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise BadPeriod(f"--since {since!r}: the period is empty; {EXPECTED_SINCE}")
        start = end - amount * _UNITS[match.group(2)]
    else:
        start = parse_time("--since", since)
    if start >= end:
        raise BadPeriod(f"--since {since!r} is not before the end of the period ({end:%Y-%m-%d %H:%M} UTC)")
    return Period(start, end, f"since {since}" + (f" until {until}" if until else ""))
