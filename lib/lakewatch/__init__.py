"""lakewatch: time-series anomaly detection native to Apache Spark and Delta Lake."""

__version__ = "0.1.0"
