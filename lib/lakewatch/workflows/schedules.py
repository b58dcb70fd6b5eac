"""Schedules of conf/workflows.yaml: five-field cron or an Airflow preset, checked with croniter, and their
Quartz form for Databricks Jobs (six fields, seconds first, one of day-of-month and day-of-week '?')."""

from __future__ import annotations

from croniter import croniter

#: Airflow's presets that name a fixed time, and the cron they stand for (Airflow's own table).
PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def schedule_problem(schedule: str) -> str | None:
    """Why `schedule` is not a schedule lakewatch runs (None when it is): a preset of :data:`PRESETS` or a
    five-field cron expression croniter accepts (minute hour day-of-month month day-of-week)."""
    if schedule.startswith("@"):
        return None if schedule in PRESETS else f"unknown preset; expected one of {sorted(PRESETS)} or 5-field cron"
    fields = schedule.split()
    if len(fields) != 5:
        return f"{len(fields)} fields; expected 5 (minute hour day-of-month month day-of-week) or a preset"
    if not croniter.is_valid(schedule):
        return "not a valid cron expression (croniter refuses it)"
    if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        # Cron runs when either matches, Quartz has no such "or": refuse what Databricks cannot express.
        return "both day-of-month and day-of-week are set; Databricks (Quartz) needs one of them to be '*'"
    return None


def as_cron(schedule: str) -> str:
    """The five-field cron of a preset or cron `schedule`."""
    return PRESETS.get(schedule, schedule)


def to_quartz(schedule: str) -> str:
    """The Quartz cron expression Databricks Jobs take for a valid `schedule` (preset or five-field cron):
    seconds 0 first, '?' for whichever of day-of-month and day-of-week is '*', week days by name (cron's 0 and 7
    are Sunday, Quartz counts from 1)."""
    minute, hour, day, month, weekday = as_cron(schedule).split()
    if weekday in ("*", "?"):
        weekday = "?"
    else:
        day = "?"
        weekday = _quartz_weekday(weekday)
    return " ".join(["0", minute, hour, day, month, weekday])


def _quartz_weekday(field: str) -> str:
    """Cron's day-of-week numbers as Quartz day names (lists, ranges and steps kept; names upper-cased)."""
    out, number = [], ""
    for char in field + " ":
        if char.isdigit():
            number += char
            continue
        if number:
            out.append(_DAYS[int(number)] if not out or out[-1] != "/" else number)
            number = ""
        if char != " ":
            out.append(char)
    return "".join(out).upper()
