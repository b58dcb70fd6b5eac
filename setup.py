"""Packaging for lakewatch: the library lives in lib/lakewatch; the wheel carries the jobs and conf/ defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
JOBS = sorted(p.stem for p in (HERE / "lib" / "lakewatch" / "jobs").glob("*.py") if not p.stem.startswith("_"))
# conf/ stays the one place defaults are edited; the wheel gets a copy as lakewatch/_conf, so that a job run from
# an installed wheel (a cluster's executors, a Databricks python_wheel_task) finds them without the repository.
PACKAGED_CONF = "_conf"


class BuildWithConf(build_py):
    """build_py that also copies conf/ (YAML defaults, expectation suites, log and jar settings) into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "lakewatch" / PACKAGED_CONF
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(HERE / "conf", target, ignore=shutil.ignore_patterns("*.md"))


def _requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    runtime = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [req for req in runtime if not req.startswith(("pytest", "ruff"))]


setup(
    name="lakewatch",
    version="0.1.0",
    description="Time-series anomaly detection native to Apache Spark and Delta Lake",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    install_requires=_requirements(),
    include_package_data=True,
    # Data Docs' CSS/JavaScript (lakewatch.data_docs): vendored from npm so the docs render offline.
    package_data={"lakewatch": ["data_docs_assets/**/*"]},
    cmdclass={"build_py": BuildWithConf},
    entry_points={
        "console_scripts": [
            "lakewatch = lakewatch.entry:main",
            *(f"lakewatch-{job.replace('_', '-')} = lakewatch.jobs.{job}:main" for job in JOBS),
        ],
    },
)
