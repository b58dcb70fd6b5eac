"""Score readings as a stream (Delta silver.readings or Kafka) into gold.anomaly_scores and gold.anomalies."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import SOURCES, StreamSettings, parse_trigger, stream_settings


def parse_args(argv: list[str] | None = None):
    """Parse and validate the score_stream job's arguments; returns (args, config, StreamSettings)."""
    parser = cli.job_parser("score_stream", __doc__)
    # dest is not "source": cli.parse_job_args checks an argument called source against conf/ file sources.
    parser.add_argument("--source", dest="stream_source", choices=SOURCES, default=None,
                        help="delta (silver.readings, default) or kafka")
    parser.add_argument("--bootstrap", default=None, help="with --source kafka: bootstrap servers HOST:PORT")
    parser.add_argument("--topic", default=None, help="with --source kafka: the topic to read")
    parser.add_argument("--trigger", default=None,
                        help="processingTime=<interval> (default from streaming.trigger) or availableNow")
    parser.add_argument("--detector", default=None, help="detector name in conf/detectors.yaml (default: its default)")
    parser.add_argument("--model", default=None, help="an MLflow model URI, e.g. models:/lakewatch-detector@champion")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default under the table root)")
    parser.add_argument("--threshold", type=float, default=None, help="flag threshold on the score (0..1)")
    args, config = cli.parse_job_args(parser, argv)
    if args.detector and args.model:
        parser.error(f"give --detector or --model, not both (got {args.detector!r} and {args.model!r})")
    if args.trigger:
        try:
            parse_trigger(args.trigger)
        except ConfigError as exc:
            parser.error(f"--trigger: {exc}")
    if args.stream_source == "kafka" and not (args.bootstrap and args.topic):
        parser.error("--source kafka needs --bootstrap HOST:PORT and --topic NAME")
    try:
        settings = _settings(args, stream_settings(config))
    except ConfigError as exc:
        parser.error(str(exc))
    if not settings.model:
        known = config.detectors.names()
        if settings.detector and settings.detector not in known:
            parser.error(f"--detector {settings.detector!r}: expected one of {known}")
        try:
            settings.flag_threshold(config, config.detectors.resolve(settings.detector))
        except ConfigError as exc:
            parser.error(str(exc))
    return args, config, settings


def _settings(args, base: StreamSettings) -> StreamSettings:
    kafka = dict(base.kafka)
    if args.bootstrap:
        kafka["bootstrap_servers"] = args.bootstrap
    if args.topic:
        kafka["topic"] = args.topic
    detector, model = args.detector, args.model
    if detector:
        model = ""
    if model:
        detector = ""
    return base.with_overrides(source=args.stream_source, trigger=args.trigger, detector=detector, model=model,
                               checkpoint=args.checkpoint, threshold=args.threshold, kafka=kafka)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the stream until caught up (availableNow) or SIGTERM / Ctrl-C (stops at a batch end)."""
    argv = sys.argv[1:] if argv is None else argv
    _, config, settings = parse_args(argv)
    stop = cli.stop_on_signals("score_stream", "batch")

    def body(spark, config, record, progress) -> int:
        from lakewatch.streaming.job import quarantine_text, run_score_stream

        report = run_score_stream(spark, config, settings, progress, stop)
        record.rows_out = report.scored
        record.details = {"query_id": report.query_id, "checkpoint": report.checkpoint, "detector": report.detector,
                          "batches": report.batches, "flagged": report.flagged, "late": report.late,
                          "events": report.events, "quarantined": report.quarantined,
                          "seconds": round(report.seconds, 1), "stopped": report.stopped}
        print(f"lakewatch score_stream: {report.stopped}; {report.batches} batches, {report.scored:,} rows scored, "
              f"{report.flagged:,} flagged, {report.late:,} late, {quarantine_text(report.quarantined)}, "
              f"{report.events:,} event updates in {report.seconds:.1f}s")
        return cli.EXIT_OK

    return cli.run_job("score_stream", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
