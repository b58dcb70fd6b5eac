"""Job entry points: one module per job, each with parse_args(argv) and main(argv); jobs/<name>.py runs one."""
