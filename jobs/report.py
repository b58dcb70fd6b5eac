"""Report on a period (HTML and PDF): readings, anomalies with charts and SHAP bars, precision, data quality, drift."""

import sys

from lakewatch.jobs.report import main

if __name__ == "__main__":
    sys.exit(main())
