"""Score the NAB corpus with a detector on Spark, NAB v1.1 scoring, and print the scoreboard."""

from __future__ import annotations

import sys
from pathlib import Path

from lakewatch import cli
from lakewatch.errors import ConfigError
from lakewatch.evaluation.corpus import NabCorpus, NabCorpusError, default_corpus_path
from lakewatch.evaluation.spark_run import evaluate_nab, format_scoreboard, score_results_dir, scoreboard
from lakewatch.scoring import detector_settings

DEFAULT_NAB = default_corpus_path()


def parse_args(argv: list[str] | None = None):
    """Parse and validate the evaluate_nab job's arguments."""
    parser = cli.job_parser("evaluate_nab", __doc__)
    parser.add_argument("--corpus", default=str(DEFAULT_NAB), help=f"a NAB checkout (default {DEFAULT_NAB})")
    parser.add_argument("--detector", default=None, help="detector name (default: the default in conf/detectors.yaml)")
    parser.add_argument("--out", default=None, help="results directory in NAB's layout (default: under the table root)")
    parser.add_argument("--score-only", action="store_true", help="only score an existing --results-dir")
    parser.add_argument("--results-dir", default=None, help="with --score-only: results in NAB's layout to score")
    args = parser.parse_args(argv)
    try:
        NabCorpus(Path(args.corpus)).check()
    except NabCorpusError as exc:
        parser.error(f"--corpus {args.corpus}: {exc}")
    if args.score_only and not args.results_dir:
        parser.error("--score-only needs --results-dir DIR (results in NAB's layout)")
    if args.score_only and not args.detector:
        parser.error("--score-only needs --detector NAME (the results/<NAME>/ folder to score)")
    if args.score_only and not (Path(args.results_dir) / args.detector).is_dir():
        parser.error(f"--results-dir {args.results_dir}: no folder {args.detector}/ in it")
    config = cli.config_from_args(args, parser)
    if not args.score_only:
        try:
            args.detector, args.params = detector_settings(args.detector, config.detectors)
        except ConfigError as exc:
            parser.error(str(exc))
    return args, config


def main(argv: list[str] | None = None) -> int:
    """Entry point: evaluate (or only score) and print the three normalised scores and the scoreboard."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)
    if args.score_only:
        results = score_results_dir(args.results_dir, args.detector, args.corpus)
        for name, result in results.items():
            print(f"{args.detector} {name:<20} {result.normalized:7.2f}  (threshold {result.threshold:.6f})")
        return cli.EXIT_OK

    def body(spark, config, record, progress) -> int:
        outcome = evaluate_nab(spark, config, args.corpus, args.detector, args.params, record.run_id, progress,
                               args.out)
        record.rows_out = outcome.points
        record.details = {"detector": args.detector, "scores": outcome.normalized(), "seconds": outcome.seconds}
        print(f"lakewatch evaluate_nab: {args.detector} on {outcome.points:,} points")
        for name, result in outcome.results.items():
            print(f"  {name:<20} {result.normalized:7.2f}  (threshold {result.threshold:.6f})")
        print(f"  results in NAB's layout: {outcome.results_dir}")
        print(f"  seconds: {', '.join(f'{k} {v:.1f}' for k, v in outcome.seconds.items())}\n")
        print(format_scoreboard(scoreboard(args.corpus, {args.detector: outcome.normalized()})))
        return cli.EXIT_OK

    return cli.run_job("evaluate_nab", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
