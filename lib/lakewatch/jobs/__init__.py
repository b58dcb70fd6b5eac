"""The jobs: one module per job with parse_args(argv) and main(argv); run by jobs/<job>.py (spark-submit),
the lakewatch command and the lakewatch-<job> console scripts."""
