"""Serve the operator dashboard (Streamlit) on the lakehouse's Delta tables, read without Spark or a JVM."""

import sys

from lakewatch.jobs.dashboard import main

if __name__ == "__main__":
    sys.exit(main())
