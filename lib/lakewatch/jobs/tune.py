"""Tune a detector's parameters on the NAB corpus with Hyperopt SparkTrials; log to MLflow, register the best."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.config import DetectorCatalog
from lakewatch.errors import LakewatchError
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.tracking import resolve_settings
from lakewatch.tuning import TuningError, tuning_settings
from lakewatch.tuning.deep import DEEP_SPACE, run_deep_tuning
from lakewatch.tuning.run import format_outcome, format_trials, run_tuning
from lakewatch.tuning.settings import TuningSettings

MODEL_KINDS = ("detector", "deep")


def parse_args(argv: list[str] | None = None):
    """Parse and validate the tune job's arguments; returns (args, config, settings)."""
    parser = cli.job_parser("tune", __doc__)
    parser.add_argument("--detector", default=None, help="detector to tune (default: tuning.detector in conf/)")
    parser.add_argument("--max-evals", type=int, default=None, help="number of trials (default: tuning.max_evals)")
    parser.add_argument("--parallelism", type=int, default=None,
                        help="trials at once (default: tuning.parallelism; 0 = Spark's default parallelism)")
    parser.add_argument("--corpus", default=None, help="a NAB checkout (default: tuning.corpus)")
    parser.add_argument("--profile", default=None, help="NAB profile to optimise (default: tuning.profile)")
    parser.add_argument("--seed", type=int, default=None, help="search seed (default: tuning.seed)")
    parser.add_argument("--no-register", action="store_true", help="log the best detector but do not register it")
    parser.add_argument("--model-kind", default="detector", choices=MODEL_KINDS,
                        help="'detector' (registry detectors, the default) or 'deep' (a window autoencoder, "
                             "lakewatch.training)")
    args, config = cli.parse_job_args(parser, argv)
    if args.max_evals is not None and args.max_evals < 1:
        parser.error(f"--max-evals {args.max_evals}: expected a positive number of trials")
    if args.parallelism is not None and args.parallelism < 0:
        parser.error(f"--parallelism {args.parallelism}: expected 0 (Spark's default) or a positive number")
    if args.model_kind == "deep" and args.detector:
        parser.error("--detector applies to --model-kind detector; the deep space is tuning.spaces.deep")
    try:
        settings = tuning_settings(config).with_overrides(
            detector=args.detector, max_evals=args.max_evals, parallelism=args.parallelism, corpus=args.corpus,
            profile=args.profile, seed=args.seed, register=False if args.no_register else None)
        if args.model_kind == "deep":
            settings.space_for(DEEP_SPACE)
        else:
            _check(settings, config.detectors)
        resolve_settings(config)
    except LakewatchError as exc:
        parser.error(str(exc))
    return args, config, settings


def _check(settings: TuningSettings, catalog: DetectorCatalog) -> None:
    known = sorted(catalog.entries)
    if settings.detector not in known:
        raise TuningError(f"--detector {settings.detector!r} is not a detector of conf/detectors.yaml: {known}")
    settings.space()
    NabCorpus(settings.corpus_path).check()


def _deep_body(settings: TuningSettings):
    def body(spark, config, record, progress) -> int:
        outcome = run_deep_tuning(spark, config, settings, progress)
        record.details = {"model_kind": "deep", "best_params": dict(outcome.result.best_params),
                          "tune_run_id": outcome.run_id, **outcome.training}
        print("lakewatch tune --model-kind deep: trials train in process, the best is trained with "
              "TorchDistributor\n")
        print(format_trials(outcome.result, ("final_loss", "windows")))
        print(f"\nbest: {outcome.result.best_params} (final loss {outcome.result.best_loss:.6f})")
        for key in ("final_loss", "nab", "model_uri", "version", "promoted", "artifacts"):
            if key in outcome.training:
                print(f"  full-size training {key}: {outcome.training[key]}")
        print(f"  tune run {outcome.run_id}; {outcome.seconds:.1f}s in all")
        return cli.EXIT_OK

    return body


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the search, print the trials and the registry outcome."""
    argv = sys.argv[1:] if argv is None else argv
    args, config, settings = parse_args(argv)
    if args.model_kind == "deep":
        return cli.run_job("tune", argv, config, _deep_body(settings))

    def body(spark, config, record, progress) -> int:
        outcome = run_tuning(spark, config, settings, progress)
        best = outcome.result.best_trial
        record.details = {"detector": settings.detector, "best_params": dict(best.params),
                          "metrics": dict(best.metrics), "mlflow_run_id": outcome.run_id,
                          "model_uri": outcome.model_uri, "version": outcome.version, "champion": outcome.champion}
        print(f"lakewatch tune: {settings.detector} on {settings.corpus_path} ({settings.profile} profile)\n")
        print(format_trials(outcome.result))
        print()
        print(format_outcome(outcome, settings, resolve_settings(config).registered_model))
        return cli.EXIT_OK

    return cli.run_job("tune", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
