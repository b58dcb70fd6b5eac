"""Score readings as a stream (Delta silver.readings or Kafka) into gold.anomaly_scores and gold.anomalies."""

from __future__ import annotations

import sys

from lakewatch.jobs.score_stream import main

if __name__ == "__main__":
    sys.exit(main())
