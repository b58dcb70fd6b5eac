"""NabCorpus: a NAB checkout's paths, the one corpus check (every failure named), loading, the default path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lakewatch.config import project_root
from lakewatch.errors import LakewatchError
from lakewatch.evaluation import (
    DEFAULT_CORPUS,
    PROFILES,
    NabCorpus,
    NabCorpusError,
    NabDataError,
    NabError,
    default_corpus_path,
    resolve_corpus_path,
)

COST = {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0, "tnWeight": 1.0}
CSV = "timestamp,value\n2020-01-01 00:00:00,1.5\n2020-01-01 00:05:00,2.5\n2020-01-01 00:10:00,-1.0\n"


def _corpus(root: Path, keys: tuple[str, ...] = ("catA/one.csv", "catB/two.csv")) -> NabCorpus:
    """A tiny NAB checkout at `root`: one three-row file per key, no windows, NAB's three profiles."""
    corpus = NabCorpus(root)
    for key in keys:
        corpus.data_file(key).parent.mkdir(parents=True, exist_ok=True)
        corpus.data_file(key).write_text(CSV)
    corpus.windows_file.parent.mkdir(parents=True)
    corpus.windows_file.write_text(json.dumps({key: [] for key in keys}))
    corpus.profiles_file.parent.mkdir(parents=True)
    corpus.profiles_file.write_text(json.dumps({name: {"CostMatrix": COST} for name in PROFILES}))
    return corpus


def test_paths_follow_nab_checkout_layout(tmp_path: Path) -> None:
    corpus = NabCorpus(tmp_path)
    assert corpus.data_dir == tmp_path / "data"
    assert corpus.data_file("catA/one.csv") == tmp_path / "data" / "catA" / "one.csv"
    assert corpus.windows_file == tmp_path / "labels" / "combined_windows.json"
    assert corpus.profiles_file == tmp_path / "config" / "profiles.json"
    assert corpus.thresholds_file == tmp_path / "config" / "thresholds.json"
    assert corpus.final_results_file == tmp_path / "results" / "final_results.json"
    assert NabCorpus.at(str(tmp_path)) == corpus and NabCorpus.at(corpus) is corpus


def test_a_complete_corpus_passes_and_loads_in_key_order(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    assert corpus.check() is corpus
    series = corpus.series()
    assert [s.key for s in series] == ["catA/one.csv", "catB/two.csv"]
    np.testing.assert_array_equal(series[0].values, [1.5, 2.5, -1.0])
    step = 300 * 10**9
    np.testing.assert_array_equal(np.diff(series[0].timestamps), [step, step])
    assert series[0].timestamps[0] == np.datetime64("2020-01-01T00:00:00", "ns").astype(np.int64)
    assert list(corpus.profiles()) == list(PROFILES)
    assert corpus.windows() == {"catA/one.csv": [], "catB/two.csv": []}


@pytest.mark.parametrize(("damage", "message"), [
    (lambda c: None, None),
    (lambda c: shutil.rmtree(c.data_dir), r"NAB corpus '.*': no data there; expected a NAB checkout"),
    (lambda c: c.windows_file.unlink(), r": no labels/combined_windows\.json there; expected a NAB checkout"),
    (lambda c: c.profiles_file.unlink(), r": no config/profiles\.json there; expected a NAB checkout"),
    (lambda c: c.windows_file.write_text("{}"), r"labels/combined_windows\.json lists no data file; expected at"),
    (lambda c: c.data_file("catB/two.csv").unlink(),
     r"1 labelled file\(s\) missing under data/, e.g. \['catB/two\.csv'\]; expected one data file per key"),
    (lambda c: c.profiles_file.write_text(json.dumps({"standard": {"CostMatrix": COST}})),
     r"config/profiles\.json lacks profile\(s\) \['reward_low_FP_rate', 'reward_low_FN_rate'\]"),
])
def test_check_names_the_corpus_and_what_is_missing(tmp_path: Path, damage, message: str | None) -> None:
    corpus = _corpus(tmp_path / "nab")
    damage(corpus)
    if message is None:
        corpus.check()
        return
    with pytest.raises(NabCorpusError, match=message) as raised:
        corpus.check()
    assert str(tmp_path / "nab") in str(raised.value)
    with pytest.raises(NabCorpusError, match=message):
        corpus.series()  # loading checks first


def test_check_of_an_absent_directory_and_the_error_hierarchy(tmp_path: Path) -> None:
    with pytest.raises(NabCorpusError, match=r"NAB corpus '.*absent' is not a directory; expected a NAB checkout"):
        NabCorpus(tmp_path / "absent").check()
    assert issubclass(NabCorpusError, NabError) and issubclass(NabCorpusError, LakewatchError)


def test_malformed_windows_are_the_file_readers_error(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    corpus.windows_file.write_text("{not json")
    with pytest.raises(NabDataError, match=r"combined_windows\.json is not valid JSON"):
        corpus.check()


def test_default_corpus_is_next_to_the_project_unless_the_variable_names_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEWATCH_NAB_DIR", raising=False)
    assert DEFAULT_CORPUS == "../shared/nab"
    assert default_corpus_path() == (project_root().parent / "shared" / "nab").resolve()
    monkeypatch.setenv("LAKEWATCH_NAB_DIR", str(tmp_path))
    assert default_corpus_path() == tmp_path.resolve()
    assert resolve_corpus_path("x/nab") == (project_root() / "x" / "nab").resolve()
    assert resolve_corpus_path(tmp_path) == tmp_path.resolve()
