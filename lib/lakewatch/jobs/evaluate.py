"""Score every entity of silver.readings against its labels: point-wise and NAB metrics per entity and overall."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.errors import ConfigError
from lakewatch.evaluation.general import (
    LABEL_COLUMN,
    LABELS_TABLE,
    METRICS,
    MULTICHANNEL_DEFAULT,
    EvaluateOptions,
    format_results,
    run_evaluation,
)
from lakewatch.streaming.settings import parse_duration


def parse_args(argv: list[str] | None = None):
    """Parse and validate the evaluate job's arguments; returns (EvaluateOptions, config)."""
    parser = cli.job_parser("evaluate", __doc__)
    parser.add_argument("--labels", required=True, metavar="gold.labels|column:NAME",
                        help="gold.labels: label windows per series (inclusive); column:NAME: the entity's channel "
                             "NAME holds the labels (non-zero = anomalous) and is not scored")
    parser.add_argument("--metric", default="f1", help=f"one of {', '.join(METRICS)} (default f1)")
    parser.add_argument("--detector", default=None,
                        help="detector name (default: the configured default detector for one channel, "
                             f"{MULTICHANNEL_DEFAULT} for an entity of several)")
    parser.add_argument("--model", default=None, metavar="URI",
                        help="an MLflow model URI of a multichannel detector (e.g. trained by `train` with "
                             "training.multivariate=true) for the entities of several channels, wrapped in the "
                             "machine likelihood; univariate entities keep the default detector")
    parser.add_argument("--train-rows", default="0", metavar="N",
                        help="the first N aligned rows of each entity feed the detector but are not counted")
    parser.add_argument("--series", default=None, metavar="GLOB", help="only series ids matching GLOB (e.g. 'pump-*')")
    parser.add_argument("--source", default=None, metavar="NAME", help="only series ingested from the source NAME")
    parser.add_argument("--tolerance", default="0", metavar="DURATION",
                        help="readings of an entity's channels within DURATION of a row's first timestamp share "
                             "that row (default 0: equal timestamps only)")
    parser.add_argument("--threshold", default=None, type=float, metavar="SCORE",
                        help="flag threshold (default: the detector's calibrated threshold in conf/detectors.yaml)")
    args, config = cli.parse_job_args(parser, argv)
    if args.labels != LABELS_TABLE and not (args.labels.startswith(LABEL_COLUMN) and args.labels[len(LABEL_COLUMN):]):
        parser.error(f"--labels {args.labels!r}: expected '{LABELS_TABLE}' or '{LABEL_COLUMN}NAME'")
    if args.metric not in METRICS:
        parser.error(f"--metric {args.metric!r}: expected one of {', '.join(METRICS)}")
    try:
        train_rows = int(args.train_rows)
    except ValueError:
        train_rows = -1
    if train_rows < 0:
        parser.error(f"--train-rows {args.train_rows!r}: expected a whole number of rows, 0 or more")
    try:
        tolerance = parse_duration(args.tolerance, "--tolerance")
    except ConfigError as exc:
        parser.error(str(exc))
    if args.detector is not None and config.detectors.resolve(args.detector) not in config.detectors.entries:
        parser.error(f"--detector {args.detector!r}: unknown detector; conf/detectors.yaml defines "
                     f"{config.detectors.names()}")
    if args.detector is not None and args.model is not None:
        parser.error(f"--detector {args.detector!r} and --model {args.model!r}: give one of them")
    options = EvaluateOptions(args.labels, args.metric, args.detector, train_rows, args.source, args.series,
                              tolerance, args.threshold, args.model)
    return options, config


def main(argv: list[str] | None = None) -> int:
    """Entry point: evaluate, append to gold.evaluations and print the results."""
    argv = sys.argv[1:] if argv is None else argv
    options, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        evaluation = run_evaluation(spark, config, options, record.run_id)
        overall = evaluation.overall
        record.rows_out = len(evaluation.rows)
        record.rows_in = overall["rows_scored"]
        record.details = {"labels": options.labels, "metric": options.metric, "detector": overall["detector"],
                          "train_rows": options.train_rows, "f1": overall["f1"],
                          "nab_standard": overall["nab_standard"], "entities": len(evaluation.entities)}
        print(f"lakewatch evaluate: run {record.run_id}, labels {options.labels}, train rows {options.train_rows}, "
              f"results in {config.tables.gold_evaluations}")
        print("\n".join(format_results(evaluation, options.metric != "f1")))
        return cli.EXIT_OK

    return cli.run_job("evaluate", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
