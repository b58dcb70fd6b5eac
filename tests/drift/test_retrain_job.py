"""The retrain job's arguments, checked before Spark starts (no session here)."""

from __future__ import annotations

import pytest

from lakewatch.jobs.retrain import parse_args


def test_options_override_the_retrain_section() -> None:
    args, _config, settings = parse_args(["--model", "ewma", "--holdout", "12h", "--train-period", "3d",
                                          "--series", "a", "--series", "b"])
    assert (settings.model, settings.holdout_seconds, settings.train_seconds) == ("ewma", 12 * 3600, 3 * 86400)
    assert args.series == ["a", "b"]
    default = parse_args([])[2]
    assert (default.model, default.holdout, default.train_period, default.min_improvement) == ("deep", "24h", "7d", 0)
    assert parse_args(["--set", "retrain.training={epochs: 2}"])[2].training == {"epochs": 2}


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "nope"], "retrain.model='nope': expected 'deep' or a detector of conf/detectors.yaml"),
    (["--holdout", "0 seconds"], "retrain.holdout='0 seconds': expected a duration above 0"),
    (["--train-period", "a while"], "retrain.train_period='a while': expected a duration like"),
    (["--set", "retrain.expected_flag_rate=2"], "retrain.expected_flag_rate=2"),
])
def test_bad_arguments_are_usage_errors_naming_the_value(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_nab_turns_the_nab_check_on_and_checks_the_corpus_first(capsys) -> None:
    settings = parse_args(["--evaluate-nab"])[2]
    assert settings.nab and (settings.nab_tolerance, settings.nab_files) == (0.0, ())
    assert not parse_args([])[2].nab
    with pytest.raises(SystemExit) as exited:
        parse_args(["--evaluate-nab", "--set", "retrain.nab_corpus=/nonexistent/nab"])
    assert exited.value.code == 2
    assert ("retrain.nab_corpus='/nonexistent/nab': NAB corpus '/nonexistent/nab' is not a directory"
            in capsys.readouterr().err)
