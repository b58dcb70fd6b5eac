"""Benchmark: point-wise precision, recall and F1 of multichannel detectors on generated machines.

    PYTHONPATH=lib .venv/bin/python bench/multichannel_f1.py                       # 20 machines, seed 0
    PYTHONPATH=lib .venv/bin/python bench/multichannel_f1.py --entities 20 --seed 1 --train-rows 1000

Machines come from :mod:`lakewatch.sources.machines` (8 correlated sensors, a healthy start of 1000 rows, then
one labelled fault segment of each kind). Every detector runs with ONE parameter set (conf/detectors.yaml) over
every machine, a fresh state per machine, and flags ``score >= threshold`` at one threshold for all machines
(the entry's own ``threshold``, or the one given below). Protocol ``--train-rows N``: the first N rows of each
machine are its training (the detectors' healthy start) and are not counted; the rest is scored.

Detectors compared: the multichannel default ``lakewatch_machine`` (PCA T2+Q likelihood with hold flagging),
the same without its repeated-value (stuck sensor) test, the PCA and kNN detectors plain (threshold 0.9999) and
with the likelihood (0.5), ``mahalanobis`` over all channels (the library's earlier multichannel detector,
plain at 0.9999 and with the likelihood), and the univariate default ``lakewatch_nab`` per channel, a row
flagged when any channel is (max over channels).

Figures: point-wise precision / recall / F1 over all scored rows; per fault kind, the recall on its segments
(printed) and precision / recall / F1 over the healthy rows plus that kind's segments (in the JSON; other kinds'
rows left out, so every kind carries all the false alarms); the false-alarm rate (flagged healthy rows / healthy
rows). ``best_f1`` is the F1 at the best single
threshold chosen WITH the labels: an oracle for reference only, never a result. Output: a table on stdout and
bench/out/multichannel-f1.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lakewatch.detectors import EnsembleDetector, LikelihoodDetector, get_detector
from lakewatch.detectors.registry import default_catalog
from lakewatch.sources.machines import FAULT_KINDS, Machine, MachineSpec, generate_machines

OUT = Path(__file__).resolve().parent / "out" / "multichannel-f1.json"

# name -> (how to score a machine, threshold); None: the entry's own threshold
CANDIDATES: dict[str, tuple[str, float | None]] = {
    "lakewatch_machine": ("joint", None),
    "lakewatch_machine_no_stuck_test": ("joint", 0.5),
    "pca_t2q_likelihood": ("joint", 0.5),
    "mknn_likelihood": ("joint", 0.5),
    "pca_t2q": ("joint", 0.9999),
    "mknn": ("joint", 0.9999),
    "mahalanobis": ("joint", 0.9999),
    "mahalanobis_likelihood": ("joint", 0.5),
    "lakewatch_nab": ("per_channel", None),
}


def _scorer(name: str, mode: str, channels: int) -> Callable[[Machine], np.ndarray]:
    if mode == "per_channel":
        det = get_detector(name)

        def per_channel(machine: Machine) -> np.ndarray:
            cols = [det.score_series(machine.values[:, c], machine.timestamps) for c in range(channels)]
            return np.max(np.stack(cols), axis=0)

        return per_channel
    if name == "lakewatch_machine_no_stuck_test":  # ablation: the default without the repeated-value test
        default = get_detector("lakewatch_machine", channels=channels)
        member = default.members[0]
        pca = get_detector("pca_t2q", {"stuck_test": False}, channels=channels)
        det = EnsembleDetector([LikelihoodDetector(pca, member.params), *default.members[1:]], default.params,
                               name=name)
    else:
        det = get_detector(name, channels=channels)
    if det.channels != channels:
        raise SystemExit(f"{name}: configured for {det.channels} channels; the machines have {channels}")
    return lambda machine: det.score_series(machine.values, machine.timestamps)


def _prf(flags: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(flags & truth))
    fp = int(np.sum(flags & ~truth))
    fn = int(np.sum(~flags & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def evaluate(scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray, threshold: float) -> dict[str, Any]:
    """Point-wise figures of ``scores`` (concatenated scored rows of every machine) at ``threshold``."""
    flags = scores >= threshold
    result: dict[str, Any] = {"threshold": threshold, "overall": _prf(flags, labels)}
    result["false_alarm_rate"] = round(float(flags[~labels].mean()), 4)
    result["per_kind"] = {}
    for kind in FAULT_KINDS:
        rows = (kinds == "") | (kinds == kind)
        result["per_kind"][kind] = _prf(flags[rows], labels[rows])
    candidates = np.unique(np.quantile(scores, np.linspace(0.5, 0.999, 200)))
    result["best_f1"] = max(_prf(scores >= t, labels)["f1"] for t in candidates)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20, help="machines to generate (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="machine family seed (default 0)")
    parser.add_argument("--train-rows", type=int, default=1000,
                        help="protocol: the first N rows of each machine are training, not scored (default 1000)")
    parser.add_argument("--detectors", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.entities < 1:
        parser.error(f"--entities {args.entities}: expected at least 1")
    if args.train_rows < 0:
        parser.error(f"--train-rows {args.train_rows}: expected 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = MachineSpec()
    if args.train_rows > spec.healthy_rows:
        raise SystemExit(f"--train-rows {args.train_rows}: the machines are healthy for {spec.healthy_rows} rows only")
    machines = generate_machines(args.entities, args.seed, spec)
    labels = np.concatenate([m.labels[args.train_rows :] for m in machines])
    kinds = np.concatenate([m.kinds[args.train_rows :] for m in machines]).astype(str)
    catalog = default_catalog()
    report: dict[str, Any] = {"entities": args.entities, "seed": args.seed, "train_rows": args.train_rows,
                              "rows_scored": len(labels), "fault_share": round(float(labels.mean()), 4),
                              "detectors": {}}
    print(f"{args.entities} machines x {spec.rows} rows ({spec.channels} channels), seed {args.seed}, first "
          f"{args.train_rows} rows training; {len(labels)} rows scored, {labels.mean():.1%} in fault segments")
    header = f"{'detector':31s} {'thr':>7s} {'P':>6s} {'R':>6s} {'F1':>6s} {'FAR':>6s} " + " ".join(
        f"{k[:10]:>10s}" for k in FAULT_KINDS) + f" {'best F1*':>8s} {'s':>6s}"
    print(header)
    for name in args.detectors:
        mode, threshold = CANDIDATES[name]
        threshold = threshold if threshold is not None else catalog.threshold(name)
        score = _scorer(name, mode, spec.channels)
        started = time.perf_counter()
        scores = np.concatenate([score(m)[args.train_rows :] for m in machines])
        elapsed = time.perf_counter() - started
        result = evaluate(scores, labels, kinds, float(threshold))
        result["seconds"] = round(elapsed, 2)
        report["detectors"][name] = result
        o = result["overall"]
        print(f"{name:31s} {threshold:7.4g} {o['precision']:6.3f} {o['recall']:6.3f} {o['f1']:6.3f} "
              f"{result['false_alarm_rate']:6.3f} "
              + " ".join(f"{result['per_kind'][k]['recall']:10.3f}" for k in FAULT_KINDS)
              + f" {result['best_f1']:8.3f} {elapsed:6.1f}")
    print("per-kind columns: recall on that kind's segments; FAR: flagged healthy rows / healthy rows; "
          "* oracle threshold, reference only")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
