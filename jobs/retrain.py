"""Retrain drifted series: a candidate per open retrain request, promoted to champion only when it is better."""

from __future__ import annotations

import sys

from lakewatch.jobs.retrain import main

if __name__ == "__main__":
    sys.exit(main())
