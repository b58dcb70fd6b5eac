"""Retrain drifted series: a candidate per open retrain request, promoted to champion only when it is better."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.retrain.run import FAILED, run_retrain
from lakewatch.retrain.settings import retrain_settings


def parse_args(argv: list[str] | None = None):
    """Parse and validate the retrain job's arguments; returns (args, config, retrain settings)."""
    parser = cli.job_parser("retrain", __doc__)
    parser.add_argument("--model", default=None,
                        help="'deep' (a window autoencoder) or a detector of conf/detectors.yaml (default: "
                             "retrain.model)")
    parser.add_argument("--holdout", default=None,
                        help="the held-back recent window, e.g. 24h (default: retrain.holdout)")
    parser.add_argument("--train-period", default=None,
                        help="the training period before it, e.g. 7d (default: retrain.train_period)")
    parser.add_argument("--series", action="append", default=[], metavar="SERIES_ID",
                        help="retrain this series (repeatable): its open requests, or a new one when it has none "
                             "(default: every open request)")
    parser.add_argument("--evaluate-nab", action="store_true",
                        help="also score candidate and champion on the NAB corpus (univariate models) and promote only "
                             "a candidate not worse there (retrain.nab=true; whole corpus: seconds per "
                             "request for online detectors, minutes for deep models)")
    args = parser.parse_args(argv)
    pairs = (("model", args.model), ("holdout", args.holdout), ("train_period", args.train_period),
             ("nab", "true" if args.evaluate_nab else None))
    args.overrides = [*args.overrides, *(f"retrain.{key}={value}" for key, value in pairs if value is not None)]
    config = cli.config_from_args(args, parser)
    settings = cli.checked_settings(parser, retrain_settings, config)
    return args, config, settings


def main(argv: list[str] | None = None) -> int:
    """Entry point: carry out the retrain requests and print each decision; exit 1 when any failed."""
    argv = sys.argv[1:] if argv is None else argv
    args, config, settings = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        report = run_retrain(spark, config, settings, record.run_id, progress, args.series)
        record.rows_in, record.rows_out = report.requests, len(report.decisions)
        record.details = {"decisions": {d.request.request_id: d.decision for d in report.decisions},
                          "model": settings.model, "nab": settings.nab}
        print("\n".join([f"lakewatch retrain: run {record.run_id}", *report.lines()]))
        return cli.EXIT_FAILED if report.count(FAILED) else cli.EXIT_OK

    return cli.run_job("retrain", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
