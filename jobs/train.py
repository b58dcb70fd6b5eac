"""Train a deep detector (window autoencoder) on gold.features with TorchDistributor; log it to MLflow."""

from __future__ import annotations

import sys

from lakewatch.jobs.train import main

if __name__ == "__main__":
    sys.exit(main())
