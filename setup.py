"""Packaging for lakewatch: the library lives in lib/lakewatch."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup


def _requirements() -> list[str]:
    lines = Path(__file__).with_name("requirements.txt").read_text().splitlines()
    runtime = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [req for req in runtime if not req.startswith(("pytest", "ruff"))]


setup(
    name="lakewatch",
    version="0.1.0",
    description="Time-series anomaly detection native to Apache Spark and Delta Lake",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    install_requires=_requirements(),
    include_package_data=True,
)
