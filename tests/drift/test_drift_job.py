"""The drift job's arguments, checked before Spark starts (no session here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakewatch.jobs.drift import parse_args


def test_options_override_the_drift_section_and_now_is_read_as_utc() -> None:
    args, _config, settings = parse_args(["--reference", "7d", "--window", "6h", "--now", "2026-01-07T01:30:00Z"])
    assert (settings.reference_seconds, settings.window_seconds) == (7 * 86400, 6 * 3600)
    assert args.now == datetime(2026, 1, 7, 1, 30, tzinfo=UTC)
    assert parse_args(["--now", "2026-01-07 03:30:00+02:00"])[0].now == datetime(2026, 1, 7, 1, 30, tzinfo=UTC)
    assert parse_args(["--now", "2026-01-07T01:30:00"])[0].now == datetime(2026, 1, 7, 1, 30, tzinfo=UTC)
    default = parse_args([])
    assert default[0].now is None and default[2].window == "24h" and default[2].reference == "30d"
    assert parse_args(["--set", "drift.consecutive_windows=5"])[2].consecutive_windows == 5
    assert default[0].retrain is None
    assert parse_args(["--auto-retrain", "--set", "retrain.model=robust_zscore"])[0].retrain.model == "robust_zscore"


@pytest.mark.parametrize(("argv", "message"), [
    (["--window", "0"], "drift.window='0': expected a duration above 0"),
    (["--reference", "a month"], "drift.reference='a month': expected a duration like"),
    (["--now", "yesterday"], "--now 'yesterday': expected an ISO 8601 timestamp"),
    (["--set", "drift.thresholds.ks=-1"], "drift.thresholds.ks=-1: expected greater than or equal to 0"),
    (["--set", "alerts.drift_channels=[pager]"], "alerts.drift_channels: unknown ['pager']"),
    (["--auto-retrain", "--set", "retrain.model=nope"], "retrain.model='nope': expected 'deep' or a detector"),
])
def test_bad_arguments_are_usage_errors_naming_the_value(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_auto_retrain_with_the_nab_check_checks_the_corpus_first(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--auto-retrain", "--set", "retrain.nab=true", "--set", "retrain.nab_corpus=/nonexistent/nab"])
    assert exited.value.code == 2
    assert "retrain.nab_corpus='/nonexistent/nab': NAB corpus '/nonexistent/nab' is not a directory" in \
        capsys.readouterr().err
