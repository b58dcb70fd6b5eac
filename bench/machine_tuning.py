"""Benchmark: F1 of a multichannel detector tuned on generated machines against its configured parameters, on the
machines it was tuned on and on machines held out from the tuning.

    PYTHONPATH=lib .venv/bin/python bench/machine_tuning.py                       # tune on seed 3, hold out seed 4
    PYTHONPATH=lib .venv/bin/python bench/machine_tuning.py --entities 10 --max-evals 16 --tune-seed 3 --holdout-seed 4

The objective is the tune job's own (:class:`lakewatch.tuning.entities.LakehouseObjective`: every machine scored
by the evaluate job's per-entity function, ``--train-rows`` rows of healthy start not counted, overall point-wise
F1), the search the job's Hyperopt TPE in process (the job runs the same trials as SparkTrials tasks); the
machines come from :mod:`lakewatch.sources.machines` (the ``machines`` source's generator, its default settings)
and are written once as the Parquet readings the objective reads, their fault segments as label windows.
Output: a table on stdout and bench/out/machine-tuning.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lakewatch.config import DetectorCatalog, load_config
from lakewatch.evaluation.entities import EvaluationSpec
from lakewatch.sources.machine_source import machine_windows
from lakewatch.sources.machines import generate_machines
from lakewatch.tuning import HyperoptTuner, tuning_settings
from lakewatch.tuning.entities import LakehouseObjective

OUT = Path(__file__).resolve().parent / "out" / "machine-tuning.json"
US_PER_S, NS_PER_US = 1_000_000, 1_000


def write_machines(seed: int, count: int, folder: Path) -> dict[str, list[tuple[int, int]]]:
    """Machines ``0..count-1`` of family ``seed`` as Parquet readings (series_id, channel, micros, value) in
    ``folder``; returns their label windows (micros, inclusive) by series_id."""
    frames, windows = [], {}
    for m in generate_machines(count, seed):
        rows, channels = m.values.shape
        frames.append(pd.DataFrame({
            "series_id": m.entity_id, "channel": np.repeat([f"s{c}" for c in range(channels)], rows),
            "micros": np.tile(m.timestamps // NS_PER_US, channels), "value": m.values.T.ravel()}))
        found = machine_windows(m)
        windows[m.entity_id] = [(int(a) * US_PER_S, int(b) * US_PER_S) for a, b in zip(found.start_s, found.end_s,
                                                                                           strict=True)]
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(folder / "part-0.parquet")
    return windows


def objective(catalog: DetectorCatalog, detector: str, threshold: float, seed: int, count: int, train_rows: int,
              folder: Path) -> LakehouseObjective:
    """The tune job's objective over machines of family ``seed``."""
    windows = write_machines(seed, count, folder)
    spec = EvaluationSpec({0: detector}, {detector: threshold}, catalog, train_rows, windows=windows)
    return LakehouseObjective(str(folder), detector, spec, "f1")


def main() -> None:
    """Tune on one family, evaluate the tuned and configured parameters on it and on another; print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="lakewatch_machine")
    parser.add_argument("--entities", type=int, default=10)
    parser.add_argument("--tune-seed", type=int, default=3)
    parser.add_argument("--holdout-seed", type=int, default=4)
    parser.add_argument("--train-rows", type=int, default=1000)
    parser.add_argument("--max-evals", type=int, default=16)
    parser.add_argument("--search-seed", type=int, default=42)
    args = parser.parse_args()
    config = load_config("local")
    threshold = float(config.detectors.threshold(args.detector))
    space = tuning_settings(config).space_for(args.detector)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="machine-tuning-") as tmp:
        tuned_on, held_out = (objective(config.detectors, args.detector, threshold, seed, args.entities,
                                        args.train_rows, Path(tmp) / str(seed))
                              for seed in (args.tune_seed, args.holdout_seed))
        result = HyperoptTuner(seed=args.search_seed).search(tuned_on, space, args.max_evals, 1)
        best = dict(result.best_trial.params)
        figures = {name: {"configured": obj.evaluate({}), "tuned": obj.evaluate(best)}
                   for name, obj in (("tuned_on", tuned_on), ("held_out", held_out))}
    seconds = time.perf_counter() - began
    print(f"{args.detector}: {args.max_evals} trials on {args.entities} machines of seed {args.tune_seed}, "
          f"held out: {args.entities} machines of seed {args.holdout_seed}; train rows {args.train_rows}; "
          f"{seconds:.0f}s")
    print(f"best parameters: {json.dumps(best)}")
    print(f"{'machines':<22} {'parameters':<11} {'precision':>9} {'recall':>7} {'F1':>7} {'FAR':>7}")
    for name, seed in (("tuned_on", args.tune_seed), ("held_out", args.holdout_seed)):
        for which in ("configured", "tuned"):
            m = figures[name][which]
            print(f"{name + f' (seed {seed})':<22} {which:<11} {m['precision']:>9.3f} {m['recall']:>7.3f} "
                  f"{m['f1']:>7.3f} {m['false_alarm_rate']:>7.3f}")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"args": vars(args), "best_params": best, "figures": figures, "seconds": seconds,
                               "trials": [{"params": dict(t.params), "f1": t.metrics.get("f1"), "error": t.error}
                                          for t in result.trials]}, indent=1))


if __name__ == "__main__":
    main()
