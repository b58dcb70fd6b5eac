"""Choosing a series' threshold (pure): above the false positives, below the true positives where it can, within
the weekly budget, clamped, the ceiling never counted; and the thresholds section's checks."""

from __future__ import annotations

from datetime import date

import pytest

from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from lakewatch.thresholds.choose import choose_threshold
from lakewatch.thresholds.settings import ThresholdSettings, threshold_settings

W1, W2 = date(2026, 1, 5), date(2026, 1, 12)
SETTINGS = ThresholdSettings(budget_per_week=3, ceiling=0.999, min_threshold=0.5, max_threshold=0.99, margin=0.001)


def choose(events: list[tuple[float, date, bool | None]], default: float = 0.6, settings=SETTINGS):
    peaks, weeks, verdicts = zip(*events, strict=True) if events else ((), (), ())
    return choose_threshold(list(peaks), list(weeks), list(verdicts), default, settings)


def test_false_positives_raise_the_threshold_above_their_peaks_and_true_positives_stay_above():
    choice = choose([(0.7, W1, False), (0.8, W1, False), (0.9, W1, True), (0.65, W2, None)])
    assert choice.threshold == 0.801
    assert (choice.false_positives, choice.true_positives, choice.events, choice.worst_week_events) == (2, 1, 4, 1)
    assert choice.reason == "feedback: above 2 of 2 false positives (peak up to 0.8000), all 1 true positives above"


def test_a_false_positive_above_a_true_positive_is_cleared_only_when_that_loses_less_than_it_gains():
    # one fp above the only tp: clearing it loses the tp (cost 1 either way): the lower cut wins
    one = choose([(0.7, W1, False), (0.75, W1, True), (0.85, W1, False)])
    assert one.threshold == 0.701 and "1 of 2 false positives" in one.reason
    # two fps above the tp: clearing both loses one tp but gains two
    two = choose([(0.75, W1, True), (0.85, W1, False), (0.86, W1, False)])
    assert two.threshold == 0.861 and "below 1 of 1 true positives" in two.reason


def test_the_budget_caps_events_per_week_and_the_ceiling_never_counts():
    events = [(p, W1, None) for p in (0.62, 0.64, 0.7, 0.75, 0.8)] + [(0.9995, W1, None), (0.63, W2, None)]
    choice = choose(events)
    assert choice.threshold == 0.641  # the 4th highest of week 1 below the ceiling is 0.64
    assert choice.worst_week_events == 3
    assert choice.reason == "budget: 5 events in the week of 2026-01-05, at most 3 a week"


def test_no_feedback_and_within_budget_keeps_the_default_and_thresholds_are_clamped():
    assert choose([(0.7, W1, True)]).threshold == 0.6
    assert choose([(0.7, W1, True)]).reason == "default: no false positives, within budget"
    assert choose([], default=0.4).threshold == 0.5  # min_threshold
    high = choose([(0.995, W1, False)])
    assert high.threshold == 0.99 and "clamped from 0.9960 to [0.5, 0.99]" in high.reason


def test_the_thresholds_section_comes_from_base_yaml_and_bad_values_name_their_key():
    settings = threshold_settings(load_config("local"))
    assert (settings.enabled, settings.budget_per_week, settings.ceiling, settings.refresh_seconds) == (
        True, 20, 0.999, 30.0)
    with pytest.raises(ConfigError, match="min_threshold <= max_threshold <= ceiling"):
        threshold_settings(load_config("local", ["thresholds.max_threshold=0.9", "thresholds.min_threshold=0.95"]))
    with pytest.raises(ConfigError, match=r"thresholds\.budget_per_week"):
        threshold_settings(load_config("local", ["thresholds.budget_per_week=-1"]))
    with pytest.raises(ConfigError, match=r"thresholds\.refresh"):
        threshold_settings(load_config("local", ["thresholds.refresh=soon"]))


def test_the_recalibrate_job_takes_a_budget_and_refuses_a_negative_one(capsys):
    from lakewatch.jobs import recalibrate

    args, config, settings = recalibrate.parse_args(["--budget", "3", "--set-by", "ana", "--dry-run"])
    assert (settings.budget_per_week, args.set_by, args.dry_run) == (3, "ana", True)
    assert config.tables.ops_thresholds == "ops.thresholds"
    with pytest.raises(SystemExit) as exit_info:
        recalibrate.parse_args(["--budget", "-1"])
    assert exit_info.value.code == 2
    assert "--budget -1: expected 0 or more alerts per series and week" in capsys.readouterr().err
