"""The environment pack-env ships to executors: the wheel with its conf defaults and the packages asked for, with
what they require, and nothing of this environment besides (its Python runs from any folder, the repository
unseen); and the catalog URL a driver started on the cluster is handed."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lakewatch.errors import ConfigError
from lakewatch.shipping import SHIPPED_BY_SPARK, main, pack_environment, requirement_closure
from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(out), str(REPO)], capture_output=True, text=True, timeout=300, cwd=out)
    assert built.returncode == 0, built.stderr[-3000:]
    return next(out.glob("lakewatch-*.whl"))


def _names(dists) -> set[str]:
    return {d.metadata["Name"].lower().replace("_", "-") for d in dists}


def test_the_closure_follows_requirements_and_leaves_out_what_spark_ships() -> None:
    names = _names(requirement_closure(["pandas", "delta-spark"]))
    assert {"pandas", "numpy", "python-dateutil", "pytz", "tzdata", "six", "delta-spark"} <= names
    assert not names & {*SHIPPED_BY_SPARK, "lakewatch"}, "pyspark comes with Spark; lakewatch from the wheel"
    with pytest.raises(ConfigError, match="package 'no-such-dist' to pack is not installed"):
        requirement_closure(["pyyaml", "no_such_dist"])


def test_a_missing_or_foreign_wheel_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"wheel {tmp_path / 'x.whl'}: expected an existing lakewatch-"):
        pack_environment(tmp_path / "x.whl", tmp_path / "env.tar.gz")
    assert main(["--wheel", str(tmp_path / "x.whl"), "--out", str(tmp_path / "env.tar.gz")]) == 2
    assert not (tmp_path / "env.tar.gz").exists()


def test_the_unpacked_environment_imports_the_wheel_and_its_conf_and_nothing_else(wheel: Path,
                                                                                  tmp_path: Path) -> None:
    archive = pack_environment(wheel, tmp_path / "env.tar.gz", ["pyyaml", "pydantic"])
    unpacked = tmp_path / "environment"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="tar")
    probe = ("import lakewatch, yaml; from lakewatch.config import default_conf_dir; conf = default_conf_dir(); "
             "print(lakewatch.__file__); print(conf); print(yaml.safe_load((conf / 'base.yaml').read_text())"
             "['tables']['silver_readings'])\n"
             "try:\n    import torch\nexcept ImportError:\n    print('no torch')")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEWATCH_", "PYTHON"))}
    ran = subprocess.run([str(unpacked / "bin" / "python"), "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    package, conf, table, torch = ran.stdout.strip().split("\n")
    assert Path(package).is_relative_to(unpacked) and Path(conf) == Path(package).parent / "_conf"
    assert table == "silver.readings" and torch == "no torch"


def test_a_cluster_drivers_catalog_url_is_used_as_given_or_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakewatch import catalog
    from lakewatch.config import load_config
    from lakewatch.errors import CatalogError
    from tests.jobs_harness import free_port

    config = load_config(None, [f"table_root={tmp_path / 'lake'}"])
    monkeypatch.delenv(catalog.METASTORE_URIS_ENV, raising=False)
    monkeypatch.setenv(catalog.METASTORE_URL_ENV, "jdbc:mysql://db/metastore")
    with pytest.raises(CatalogError, match="a catalog server URL looks like jdbc:derby://host:1527/db"), \
            catalog.connecting(config, []):
        pass
    url = f"jdbc:derby://127.0.0.1:{free_port()}/_metastore;create=true"
    monkeypatch.setenv(catalog.METASTORE_URL_ENV, url)
    with pytest.raises(CatalogError) as refused, catalog.connecting(config, []):
        pass
    assert str(refused.value).startswith(f"catalog {url.split(';')[0]} (table root {tmp_path / 'lake'}) cannot be")
    assert "unset LAKEWATCH_METASTORE_URL" in str(refused.value)
    assert not (tmp_path / "lake").exists(), "no server was started for the table root"
