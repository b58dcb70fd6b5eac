"""Tune a detector's parameters with Hyperopt SparkTrials, on the NAB corpus or (--labels) on the entities of a
labelled lakehouse scored as the evaluate job scores them; log to MLflow, register the best."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.config import DetectorCatalog
from lakewatch.errors import LakewatchError
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.evaluation.general import LABEL_COLUMN, LABELS_TABLE, EvaluateOptions
from lakewatch.tracking import resolve_settings
from lakewatch.tuning import TuningError, tuning_settings
from lakewatch.tuning.deep import DEEP_SPACE, run_deep_tuning
from lakewatch.tuning.lakehouse_run import TABLE_METRICS, format_lakehouse_outcome, run_lakehouse_tuning
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
    parser.add_argument("--labels", default=None, metavar="gold.labels|column:NAME",
                        help="tune on the entities of this lakehouse against these labels (as evaluate --labels) "
                             "instead of on the NAB corpus")
    parser.add_argument("--objective", default=None,
                        help="with --labels: f1 (overall point-wise F1, the default) or nab (overall NAB window "
                             "score); without: nab (the corpus)")
    parser.add_argument("--train-rows", type=int, default=0, metavar="N",
                        help="with --labels: the first N aligned rows of each entity train, the rest are scored")
    parser.add_argument("--series", default=None, metavar="GLOB", help="with --labels: only series ids matching GLOB")
    parser.add_argument("--source", default=None, metavar="NAME", help="with --labels: only series of source NAME")
    parser.add_argument("--threshold", default=None, type=float, metavar="SCORE",
                        help="with --labels: flag threshold (default: the detector's calibrated one; a 'threshold' "
                             "in the search space overrides it per trial)")
    args, config = cli.parse_job_args(parser, argv)
    _check_lakehouse_args(parser, args)
    if args.max_evals is not None and args.max_evals < 1:
        parser.error(f"--max-evals {args.max_evals}: expected a positive number of trials")
    if args.parallelism is not None and args.parallelism < 0:
        parser.error(f"--parallelism {args.parallelism}: expected 0 (Spark's default) or a positive number")
    if args.model_kind == "deep" and args.detector:
        parser.error("--detector applies to --model-kind detector; the deep space is tuning.spaces.deep")
    try:
        settings = tuning_settings(config).with_overrides(
            detector=args.detector, max_evals=args.max_evals, parallelism=args.parallelism, corpus=args.corpus,
            profile=args.profile, seed=args.seed, register=False if args.no_register else None,
            objective=args.objective or ("f1" if args.labels else None))
        if args.model_kind == "deep":
            settings.space_for(DEEP_SPACE)
        else:
            _check(settings, config.detectors, corpus=args.labels is None)
        resolve_settings(config)
    except LakewatchError as exc:
        parser.error(str(exc))
    return args, config, settings


def _check_lakehouse_args(parser, args) -> None:
    if args.labels is None:
        given = [f"--{k.replace('_', '-')}" for k in ("series", "source", "threshold") if getattr(args, k) is not None]
        given += ["--train-rows"] if args.train_rows else []
        if given:
            parser.error(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} with --labels (tuning on a "
                         "labelled lakehouse)")
        if args.objective not in (None, "nab"):
            parser.error(f"--objective {args.objective!r}: without --labels the objective is the NAB corpus score "
                         "(nab); f1 needs --labels")
        return
    if args.labels != LABELS_TABLE and not (args.labels.startswith(LABEL_COLUMN) and args.labels[len(LABEL_COLUMN):]):
        parser.error(f"--labels {args.labels!r}: expected '{LABELS_TABLE}' or '{LABEL_COLUMN}NAME'")
    if args.objective not in (None, "f1", "nab"):
        parser.error(f"--objective {args.objective!r}: expected f1 or nab")
    if args.train_rows < 0:
        parser.error(f"--train-rows {args.train_rows}: expected a whole number of rows, 0 or more")
    if args.model_kind == "deep":
        parser.error("--labels applies to --model-kind detector")


def _check(settings: TuningSettings, catalog: DetectorCatalog, corpus: bool = True) -> None:
    known = sorted(catalog.entries)
    if settings.detector not in known:
        raise TuningError(f"--detector {settings.detector!r} is not a detector of conf/detectors.yaml: {known}")
    settings.space()
    if corpus:
        if settings.objective != "nab":
            raise TuningError(f"tuning.objective {settings.objective!r} needs --labels (a labelled lakehouse); "
                              "on the NAB corpus the objective is nab")
        NabCorpus(settings.corpus_path).check()


def _lakehouse_body(settings: TuningSettings, options: EvaluateOptions):
    def body(spark, config, record, progress) -> int:
        outcome = run_lakehouse_tuning(spark, config, settings, options, progress)
        best = outcome.result.best_trial
        record.details = {"detector": settings.detector, "objective": settings.objective, "labels": options.labels,
                          "train_rows": options.train_rows, "best_params": dict(best.params),
                          "metrics": dict(best.metrics), "baseline": outcome.baseline,
                          "mlflow_run_id": outcome.run_id, "model_uri": outcome.model_uri, "version": outcome.version}
        print(f"lakewatch tune: {settings.detector} on {outcome.entities} entities against {options.labels} "
              f"(objective {settings.objective}, train rows {options.train_rows})\n")
        names = (*TABLE_METRICS, *(("nab_standard",) if settings.objective == "nab" else ()))
        print(format_trials(outcome.result, names))
        print()
        print(format_lakehouse_outcome(outcome, settings, resolve_settings(config).registered_model))
        return cli.EXIT_OK

    return body


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
    if args.labels is not None:
        options = EvaluateOptions(args.labels, settings.objective, settings.detector, args.train_rows, args.source,
                                  args.series, 0.0, args.threshold)
        return cli.run_job("tune", argv, config, _lakehouse_body(settings, options))

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
