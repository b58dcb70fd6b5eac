from __future__ import annotations

import shutil
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


def test_a_job_session_takes_its_spark_job_conf_over_the_common_conf() -> None:
    spark = load_config("local").spark
    assert spark.conf_for("refine")["spark.databricks.delta.snapshotPartitions"] == "2"  # conf/local.yaml
    assert spark.conf_for("score_stream")["spark.databricks.delta.snapshotPartitions"] == "1"  # job_conf, base.yaml
    assert spark.conf_for("score_stream")["spark.sql.session.timeZone"] == "UTC"  # the common conf still applies


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
        (["synthetic.series=0"], "synthetic.series=0: expected greater than 0"),
        (["synthetic.series=true"], "synthetic.series=True: expected a number, not a boolean"),
        (["spark.shuffle_partitions=-2"], "spark.shuffle_partitions=-2: expected greater than 0"),
        (["features.windows=[3, 0]"], "features.windows.1=0: expected greater than 0"),
        (["tables.gold_features=7"], "tables.gold_features=7: expected a valid string"),
        (["synthetic.colour=red"], "synthetic: unknown keys ['colour']"),
        (["noequals"], "must look like section.key=value"),
        (["sources.bad.path=x", "sources.bad.value_column=v", "sources.bad.format=xlsx"],
         "sources.bad.format='xlsx': expected 'csv' or 'parquet'"),
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


def test_detector_parameters_are_in_the_config_and_its_hash() -> None:
    plain = load_config("local")
    changed = load_config("local", ["detectors.lakewatch_nab.params.suppress_rows=50"])
    assert plain.detectors.entries["lakewatch_nab"].params["suppress_rows"] == 100
    assert changed.detectors.entries["lakewatch_nab"].params["suppress_rows"] == 50
    assert changed.raw["detectors"]["lakewatch_nab"]["params"]["suppress_rows"] == 50
    assert changed.config_hash != plain.config_hash
    assert load_config("local", ["detectors.lakewatch_nab.params.suppress_rows=100"]).config_hash == plain.config_hash


def test_env_file_layers_over_detectors_yaml(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(project_root() / "conf", conf)
    (conf / "tight.yaml").write_text("detectors:\n  lakewatch_nab:\n    params: {suppress_rows: 20}\n")
    config = load_config("tight", conf_dir=conf)
    assert config.detectors.entries["lakewatch_nab"].params == {
        "combine": "max", "suppress_threshold": 0.5, "suppress_rows": 20, "suppress_factor": 0.0,
        "flagging": "onset", "hold_threshold": 0.5, "hold_release": 0.3, "hold_rows": 5}
    assert load_config("tight", ["detectors.lakewatch_nab.params.suppress_rows=30"], conf_dir=conf
                       ).detectors.entries["lakewatch_nab"].params["suppress_rows"] == 30


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("detectors.lakewatch_nab.params.suppress_rows=-1",
         "detectors.lakewatch_nab.params.suppress_rows=-1: expected greater than or equal to 0"),
        ("detectors.lakewatch_nab.params.suppress_rowz=50",
         r"detectors.lakewatch_nab.params: unknown keys \['suppress_rowz'\]; expected some of \[.*'suppress_rows'"),
        ("detectors.knn.params.memory=big", "detectors.knn.params.memory='big': expected a valid integer"),
        ("detectors.knn.params.scales=[8, 4]", "detectors.knn.params: knn: parameter scales=.* strictly increasing"),
        ("detectors.lakewatch_nab.threshold=1.5", "detectors.lakewatch_nab.threshold=1.5: expected less than or equal"),
        ("detectors.lakewatch_nab.members=[knn, nope]", "detectors.lakewatch_nab refers to 'nope'"),
        ("default_detector=nope", "default_detector='nope': expected the name of an entry"),
    ],
)
def test_bad_detector_overrides_fail_at_load_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("local", [override])


def test_detector_thresholds_live_with_their_detector() -> None:
    catalog = load_config("local").detectors
    assert catalog.threshold("lakewatch_nab") == catalog.threshold("default") == 0.5034722222222222
    assert catalog.threshold("knn") is None
    assert load_config("local").raw["streaming"]["threshold"] is None
