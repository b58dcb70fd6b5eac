"""Run the whole pipeline (ingest, refine, validate, features) from a source to gold; the main job."""

from __future__ import annotations

import sys

from lakewatch.jobs.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
