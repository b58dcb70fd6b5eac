"""Tests of MLflow tracking and registry, detector persistence and tuning."""
