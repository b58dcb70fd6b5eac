from __future__ import annotations

from pathlib import Path

import pytest

from lakewatch.config import load_config, project_root
from lakewatch.errors import ConfigError


def test_layers_base_env_and_overrides() -> None:
    config = load_config("local", ["synthetic.series=7", "features.windows=[3, 5]"])
    assert config.env == "local"
    assert config.spark.shuffle_partitions == 32  # conf/local.yaml over base
    assert config.synthetic.series == 7
    assert config.features.windows == (3, 5)
    assert config.table_root == str(project_root() / "delta_tables")


def test_config_hash_changes_with_any_value() -> None:
    assert load_config("local").config_hash != load_config("local", ["synthetic.seed=43"]).config_hash
    assert load_config("local").config_hash == load_config("local").config_hash


def test_sources_resolve_relative_paths() -> None:
    nab = load_config("local").source("nab")
    assert Path(nab.path).is_absolute() and nab.path.endswith("shared/nab/data")
    assert nab.required_columns == ("timestamp", "value")
    skab = load_config("local").source("skab")
    assert len(skab.channel_columns) == 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["synthetic.series=0"], "synthetic.series must be a positive integer, found 0"),
        (["synthetic.colour=red"], "unknown keys ['colour']"),
        (["noequals"], "must look like section.key=value"),
        (["sources.bad.path=x", "sources.bad.value_column=v", "sources.bad.format=xlsx"], "format 'xlsx'"),
        (["sources.bad.path=x"], "exactly one of value_column or channel_columns"),
        (["sources.bad.path=x", "sources.bad.value_column=v", "sources.bad.series_id_from=column"],
         "needs series_id_column"),
    ],
)
def test_bad_config_names_the_problem(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config("local", overrides)


def test_unknown_env_and_source_are_named() -> None:
    with pytest.raises(ConfigError, match="environment 'staging'"):
        load_config("staging")
    with pytest.raises(ConfigError, match="unknown source 'nope'"):
        load_config("local").source("nope")
