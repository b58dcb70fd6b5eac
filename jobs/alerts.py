"""Bring the alerts outbox (ops.alerts) up to date from gold.anomalies and deliver pending and retriable alerts."""

from __future__ import annotations

import sys

from lakewatch.jobs.alerts import main

if __name__ == "__main__":
    sys.exit(main())
