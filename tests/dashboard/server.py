"""Start the dashboard the way a person does (``./spark-submit.sh dashboard``) on a free loopback port, wait until
it answers, and stop it by its pid."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from lakewatch.config import LakewatchConfig, project_root
from tests.dashboard.conftest import job_options


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(config: LakewatchConfig, log: Path, refresh: int = 60, port: int | None = None
          ) -> tuple[subprocess.Popen, str]:
    """The launcher serving `config`'s lakehouse, and its URL once /_stcore/health answers ok (RuntimeError with
    the server's log when it does not within a minute)."""
    port = port or free_port()
    env = {**os.environ, "LAKEWATCH_VENV": os.environ.get("LAKEWATCH_VENV", str(Path(os.sys.prefix)))}
    command = [str(project_root() / "spark-submit.sh"), "dashboard", "--port", str(port), "--refresh", str(refresh),
               *job_options(config)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=project_root())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return process, url
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"the dashboard did not answer on {url} within 60 s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Stop the server this test started (SIGTERM to its pid, then SIGKILL after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found.append((child, (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return found


def cmdline(pid: int) -> list[str]:
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
