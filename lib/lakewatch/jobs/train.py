"""Train a deep detector (window autoencoder) on gold.features with TorchDistributor; log it to MLflow."""

from __future__ import annotations

import sys
from pathlib import Path

from lakewatch import cli
from lakewatch.deep.models import MODEL_KINDS
from lakewatch.errors import ConfigError
from lakewatch.evaluation.corpus import NabCorpus, NabCorpusError, default_corpus_path
from lakewatch.layout import MODELS
from lakewatch.training import TrainingSettings
from lakewatch.training.run import train_and_register

DEFAULT_NAB = default_corpus_path()


def parse_args(argv: list[str] | None = None):
    """Parse and validate the train job's arguments; the training settings end up in ``args.settings``."""
    parser = cli.job_parser("train", __doc__)
    parser.add_argument("--model", choices=MODEL_KINDS, default=None, help="model kind (default: training.model)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: training.epochs)")
    parser.add_argument("--num-processes", type=int, default=None,
                        help="DDP processes TorchDistributor starts (default: training.num_processes)")
    parser.add_argument("--window", type=int, default=None, help="window length in rows (default: training.window)")
    parser.add_argument("--table", default=None, help="feature table to train on (default: gold.features)")
    parser.add_argument("--out", default=None,
                        help=f"folder for the model artifacts (default: <table root>/{MODELS}/<run id>)")
    parser.add_argument("--evaluate-nab", action="store_true",
                        help="score the trained (univariate) detector on the NAB corpus in-process")
    parser.add_argument("--corpus", default=str(DEFAULT_NAB), help=f"a NAB checkout (default {DEFAULT_NAB})")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the run to MLflow")
    args, config = cli.parse_job_args(parser, argv)
    for name in ("epochs", "num_processes", "window"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} {value}: expected a positive integer")
    try:
        args.settings = config.settings("training", TrainingSettings).with_overrides(
            model=args.model, epochs=args.epochs, num_processes=args.num_processes, window=args.window,
            table=args.table)
    except ConfigError as exc:
        parser.error(str(exc))
    if args.evaluate_nab:
        if args.settings.multivariate:
            parser.error("--evaluate-nab needs a univariate model (NAB is univariate); training.multivariate is on")
        try:
            NabCorpus(Path(args.corpus)).check()
        except NabCorpusError as exc:
            parser.error(f"--corpus {args.corpus}: {exc}")
    return args, config


def main(argv: list[str] | None = None) -> int:
    """Entry point: train, save the artifacts, optionally score NAB, log to MLflow and promote if better."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        trained = train_and_register(spark, config, args.settings, progress, run_id=record.run_id,
                                     artifacts=args.out, corpus=args.corpus if args.evaluate_nab else None,
                                     log=not args.no_mlflow)
        result, out, scores = trained.result, trained.artifacts, trained.nab
        details = {"model": args.settings.model, "windows": result.windows, "final_loss": trained.final_loss,
                   "artifacts": str(out), "nab": scores, **trained.mlflow_details()}
        record.rows_in = result.params["rows"]
        record.details = details
        print(f"lakewatch train: {args.settings.model} on {result.params['series']:,} series, "
              f"{result.windows:,} windows, {args.settings.epochs} epoch(s), final loss {details['final_loss']:.6f}")
        print(f"  dropped non-finite rows: {result.params['dropped_rows']:,}; artifacts: {out}")
        for name, value in scores.items():
            print(f"  NAB {name:<20} {value:7.2f}")
        for key in ("model_uri", "version", "promoted"):
            if key in details:
                print(f"  {key}: {details[key]}")
        return cli.EXIT_OK

    return cli.run_job("train", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
