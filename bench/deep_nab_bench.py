"""Benchmark: the trained deep detector on NAB, alone and as a third member of the default ensemble.

    ./spark-submit.sh train --table-root /tmp/h5/lake --evaluate-nab     # trains and registers the champion
    .venv/bin/python bench/deep_nab_bench.py --table-root /tmp/h5/lake   # models:/lakewatch-detector@champion
    .venv/bin/python bench/deep_nab_bench.py --table-root /tmp/h5/lake --model runs:/<run id>/detector \\
        --spark-series 4                                                  # also the Spark scoring check

For each model given (``--model``, a model URI, or ``--artifacts``, a folder written by
``AutoencoderDetector.save_artifacts``) it scores the NAB corpus in-process with a fresh state per file and the
NAB v1.1 scorer (corpus-wide threshold per profile): (1) the default detector ``lakewatch_nab``, (2) the deep
detector alone, (3) an ``EnsembleDetector`` of ``lakewatch_nab``'s members plus the deep detector, with
``lakewatch_nab``'s own combination and suppression parameters (one parameter set; no labels used anywhere but
in the scorer), (4) the deep detector wrapped in the anomaly likelihood (``knn_likelihood``'s parameters), alone
and (5) as that third member. With ``--spark-series N`` it also scores N NAB series of the lakehouse's
silver.readings on Spark with ``tracking.score_with_model`` by the model URI and reports the largest difference from the
in-process scores. Results: bench/out/deep-nab.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from lakewatch.config import load_config
from lakewatch.detectors import get_detector
from lakewatch.detectors.base import Detector
from lakewatch.detectors.ensemble import EnsembleDetector
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.evaluation import NabCorpus, NabSeries, default_corpus_path, run_on_nab, score_nab_run

OUT = Path(__file__).resolve().parent / "out"
DEFAULT = "lakewatch_nab"


def nab_entry(nab: Path, detector: Detector, corpus: list[NabSeries]) -> dict[str, Any]:
    """NAB scores (rounded to 0.01) and scoring time of one detector over the corpus."""
    began = time.perf_counter()
    run = run_on_nab(nab, detector, corpus)
    scores = score_nab_run(nab, run)
    return {"detector": detector.name, "scores": {k: round(v, 2) for k, v in scores.items()},
            "scoring_seconds": round(run.seconds, 1), "seconds": round(time.perf_counter() - began, 1)}


def with_deep(base: EnsembleDetector, deep: Detector) -> EnsembleDetector:
    """``base``'s members plus ``deep`` under ``base``'s own parameters."""
    return EnsembleDetector([*base.members, deep], base.params, name=f"{base.name}+{deep.name}")


def load_deep(spec: str, config: Any) -> Detector:
    """A deep detector from a model URI (``models:/...``, ``runs:/...``) or an artifacts folder."""
    if "://" in spec or spec.startswith("models:/") or spec.startswith("runs:/"):
        from lakewatch.tracking import load_model_detector

        return load_model_detector(spec, config)
    from lakewatch.deep.detector import load_autoencoder_detector

    return load_autoencoder_detector(spec)


def _location(spec: str) -> str:
    """Where a registry URI points now (its version's files); other specs as given."""
    if not spec.startswith("models:/"):
        return spec
    from lakewatch.tracking import resolve_model_location

    return resolve_model_location(spec)


def spark_check(config: Any, model_uri: str, deep: Detector, series: int) -> dict[str, Any]:
    """Score ``series`` NAB series of silver.readings (spread over the sorted ids) on Spark by ``model_uri``;
    compare with the same detector's in-process scores."""
    from pyspark.sql import functions as F

    from lakewatch.spark import get_spark
    from lakewatch.tracking import score_with_model

    spark = get_spark("lakewatch-deep-nab-bench", config, {"spark.master": "local[2]", "spark.ui.enabled": "false"})
    readings = spark.table(config.tables.silver_readings)
    every = sorted(r[0] for r in readings.select("series_id").distinct().collect())
    ids = [every[i * len(every) // series] for i in range(min(series, len(every)))]  # spread over categories
    chosen = readings.where(F.col("series_id").isin(ids))
    began = time.perf_counter()
    scored = score_with_model(chosen, model_uri, config).toPandas()
    seconds = time.perf_counter() - began
    worst, rows = 0.0, 0
    per_series = {}
    for (sid, channel), group in scored.groupby(["series_id", "channel"]):
        group = group.sort_values("timestamp", kind="stable")
        nanos = group["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        local = deep.score_series(group["value"].to_numpy(dtype=np.float64), nanos)
        diff = float(np.max(np.abs(local - group["anomaly_score"].to_numpy()))) if len(group) else 0.0
        per_series[f"{sid}/{channel}"] = {"rows": len(group), "max_abs_diff": diff,
                                          "max_score": float(local.max()), "mean_score": float(local.mean())}
        worst, rows = max(worst, diff), rows + len(group)
    return {"model_uri": model_uri, "series": per_series, "rows": rows, "max_abs_diff": worst,
            "spark_seconds": round(seconds, 1)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(default_corpus_path()))
    parser.add_argument("--table-root", default=None, help="lakehouse whose MLflow store holds the models")
    parser.add_argument("--model", action="append", default=[],
                        help="model URI or artifacts folder (repeatable; default models:/lakewatch-detector@champion)")
    parser.add_argument("--spark-series", type=int, default=0,
                        help="also score this many silver.readings series on Spark by the first model URI")
    parser.add_argument("--out", default=str(OUT / "deep-nab.json"))
    args = parser.parse_args()
    nab = Path(args.corpus)
    config = load_config("local", [f"table_root={args.table_root}"] if args.table_root else [])
    models = args.model or ["models:/lakewatch-detector@champion"]
    corpus = NabCorpus(nab).series()
    base = get_detector(DEFAULT)
    if not isinstance(base, EnsembleDetector):
        raise SystemExit(f"{DEFAULT} is a {type(base).__name__}; this benchmark extends an ensemble")
    base.score_series(corpus[0].values[:300], corpus[0].timestamps[:300])  # compile outside the timing
    result: dict[str, Any] = {"corpus": str(nab), "baseline": nab_entry(nab, base, corpus), "models": []}
    print(f"{DEFAULT:<40} {result['baseline']['scores']}")
    for spec in models:
        deep = load_deep(spec, config)
        entry: dict[str, Any] = {"model": spec, "location": _location(spec), "params": deep.params.as_dict(),
                                 "info": getattr(deep, "info", {})}
        if args.spark_series and "spark" not in result and ":/" in spec:
            result["spark"] = spark_check(config, spec, deep, args.spark_series)
            print(f"Spark score_with_model vs in-process: {result['spark']['rows']} rows, "
                  f"max abs diff {result['spark']['max_abs_diff']:.3g}")
        entry["alone"] = nab_entry(nab, deep, corpus)
        print(f"{deep.name:<40} {entry['alone']['scores']}  ({entry['alone']['scoring_seconds']} s scoring)")
        suppressed = EnsembleDetector([deep], base.params, name=f"{deep.name}+suppression")
        entry["suppressed"] = nab_entry(nab, suppressed, corpus)
        print(f"{suppressed.name:<40} {entry['suppressed']['scores']}")
        entry["ensemble"] = nab_entry(nab, with_deep(base, deep), corpus)
        print(f"{entry['ensemble']['detector']:<40} {entry['ensemble']['scores']}")
        # The raw error's calibrated CDF sits around 0.5 on every row, so under max it decides the ensemble; the
        # anomaly likelihood over it (knn_likelihood's parameters) scores near 0 except at a rare excursion.
        wrapped = LikelihoodDetector(deep, get_detector("knn_likelihood").params, name=f"{deep.name}_likelihood")
        entry["likelihood"] = nab_entry(nab, wrapped, corpus)
        print(f"{wrapped.name:<40} {entry['likelihood']['scores']}")
        entry["likelihood_ensemble"] = nab_entry(nab, with_deep(base, wrapped), corpus)
        print(f"{entry['likelihood_ensemble']['detector']:<40} {entry['likelihood_ensemble']['scores']}")
        result["models"].append(entry)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
