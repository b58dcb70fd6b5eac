"""Provenance stamped on every run: a run id, the git commit and the config hash."""

from __future__ import annotations

import subprocess
import uuid
from functools import lru_cache

from lakewatch.config import project_root


def new_run_id() -> str:
    """A fresh, unique run id."""
    return uuid.uuid4().hex


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the lakewatch checkout, with '+dirty' when it has local changes; 'unknown' outside git."""
    root = str(project_root())
    try:
        sha = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha
