"""How the dashboard job hands the lakehouse's config to the Streamlit app: one environment variable."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import ConfigError
from lakewatch.job_options import add_job_options, config_overrides

#: JSON {"options": [job options...], "refresh": seconds} set by lakewatch.jobs.dashboard for the app.
OPTIONS_ENV = "LAKEWATCH_DASHBOARD"
DEFAULT_REFRESH = 15


@dataclass(frozen=True)
class AppSettings:
    """What the app runs on: the config its job options select and how long loaded data stays cached."""

    config: LakewatchConfig
    refresh: int


def app_path() -> Path:
    """The Streamlit script ``streamlit run`` serves."""
    return Path(__file__).with_name("app.py")


def encode_options(job_options: list[str], refresh: int = DEFAULT_REFRESH) -> str:
    """The value of OPTIONS_ENV for job options (--env/--set/--table-root) and a cache time in seconds."""
    return json.dumps({"options": list(job_options), "refresh": int(refresh)})


def load_settings(value: str | None = None) -> AppSettings:
    """The app's settings from OPTIONS_ENV (or `value`); without it, the default config ($LAKEWATCH_TABLE_ROOT...).

    Raises ConfigError naming the variable when its value is not what the job writes or its config does not load.
    """
    value = os.environ.get(OPTIONS_ENV) if value is None else value
    if not value:
        return AppSettings(load_config(), DEFAULT_REFRESH)
    try:
        data = json.loads(value)
        options, refresh = [str(o) for o in data["options"]], int(data.get("refresh", DEFAULT_REFRESH))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"${OPTIONS_ENV}={value!r}: expected JSON {{\"options\": [...], \"refresh\": N}} "
                          f"({exc})") from None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_job_options(parser)
    try:
        args = parser.parse_args(options)
    except (argparse.ArgumentError, SystemExit) as exc:
        raise ConfigError(f"${OPTIONS_ENV}: bad job options {options}: {exc}") from None
    return AppSettings(load_config(args.env, config_overrides(args)), max(1, refresh))
