"""Ship lakewatch to a cluster whose nodes lack it: a slim Python environment packed as one .tar.gz.

The project's virtual environment is about 7.7 GB (torch, MLflow, Great Expectations...), far too much to send to
every executor; executors only import what the pickled functions of a job reference. ``pack_environment`` writes a
virtual environment holding the lakewatch wheel (with its conf defaults, ``lakewatch/_conf``) and the distributions
executors import (EXECUTOR_PACKAGES and what they require), copied from this environment, so their versions are the
driver's. Spark unpacks it in each executor's working folder (``--archives env.tar.gz#environment``) and runs
``./environment/bin/python``.

Like venv-pack (which packs a whole environment, here 7.7 GB), the environment's ``bin/python`` links to this
interpreter's path: the nodes need the same Python (3.11 at the same path), not its packages.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lakewatch.errors import ConfigError

#: What executors import when they run lakewatch's functions (pandas UDFs, Arrow batches, the detectors' numerics,
#: the config), beyond the wheel itself; their own requirements come along.
EXECUTOR_PACKAGES = ("pandas", "pyarrow", "numpy", "scipy", "numba", "pyyaml", "pydantic", "psutil", "delta-spark")
#: What a driver started on the cluster (YARN cluster deploy mode) imports besides: the pipeline's validation.
DRIVER_PACKAGES = ("great_expectations",)
#: Spark puts its own pyspark.zip and py4j on every driver's and executor's path: never packed (pyspark is 400 MB).
SHIPPED_BY_SPARK = ("pyspark", "py4j")
ENV_PYTHON = "bin/python"


def requirement_closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions `names` and, recursively, what they require (no extras), sorted by name;
    never lakewatch itself (the wheel's goes in) nor what Spark ships (SHIPPED_BY_SPARK).

    Raises ConfigError naming a distribution that is not installed in this environment.
    """
    found: dict[str, metadata.Distribution] = {}
    pending = [canonicalize_name(name) for name in names]
    # The wheel's lakewatch goes in, never this environment's (editable) one.
    skipped = {"lakewatch", *SHIPPED_BY_SPARK}
    while pending:
        name = pending.pop()
        if name in found or name in skipped:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"package {name!r} to pack is not installed in {sys.prefix}") from None
        found[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                pending.append(canonicalize_name(req.name))
    return [found[name] for name in sorted(found)]


def _site_packages() -> str:
    return f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def _pyvenv_cfg() -> bytes:
    base = Path(sys._base_executable).resolve()  # the interpreter a venv would link to
    version = ".".join(map(str, sys.version_info[:3]))
    return f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {version}\n".encode()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_distribution(tar: tarfile.TarFile, dist: metadata.Distribution, site: str) -> None:
    # Only files inside site-packages: console scripts (../../../bin) name this environment's interpreter.
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue
        path = Path(dist.locate_file(file))
        if path.is_file():
            tar.add(path, arcname=f"{site}/{file.as_posix()}", recursive=False)


def _add_wheel(tar: tarfile.TarFile, wheel: Path, site: str) -> None:
    # A pure-Python wheel is its site-packages layout: unpacking it is installing it (no scripts are needed).
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.endswith("/"):
                _add_bytes(tar, f"{site}/{name}", archive.read(name))


def pack_environment(wheel: Path, out: Path, packages: Sequence[str] = EXECUTOR_PACKAGES) -> Path:
    """Write `out` (.tar.gz): a virtual environment with `wheel` and the installed `packages` with what they need.

    Raises ConfigError when the wheel is missing or not lakewatch's, or a package is not installed here.
    """
    if not wheel.is_file() or not wheel.name.startswith("lakewatch-") or wheel.suffix != ".whl":
        raise ConfigError(f"wheel {wheel}: expected an existing lakewatch-*.whl (pip wheel --no-deps .)")
    dists = requirement_closure(packages)
    site = _site_packages()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    # Level 1: most of the bytes are compiled libraries that compress little anyway; it keeps packing quick.
    with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
        _add_bytes(tar, "pyvenv.cfg", _pyvenv_cfg())
        link = tarfile.TarInfo(ENV_PYTHON)
        link.type, link.linkname, link.mtime = tarfile.SYMTYPE, str(Path(sys._base_executable).resolve()), 0
        tar.addfile(link)
        for dist in dists:
            _add_distribution(tar, dist, site)
        _add_wheel(tar, wheel, site)
    partial.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lakewatch.shipping --wheel W --out ENV.tar.gz [--package P ...]``: pack, print the archive."""
    parser = argparse.ArgumentParser(prog="lakewatch.shipping", description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="the lakewatch wheel to install in the archive")
    parser.add_argument("--out", type=Path, required=True, help="the .tar.gz to write")
    parser.add_argument("--package", action="append", default=[],
                        help="another installed distribution executors need (repeatable)")
    parser.add_argument("--driver", action="store_true",
                        help=f"also what a driver in cluster deploy mode needs ({', '.join(DRIVER_PACKAGES)})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    packages = [*EXECUTOR_PACKAGES, *(DRIVER_PACKAGES if args.driver else ()), *args.package]
    try:
        out = pack_environment(args.wheel, args.out, packages)
    except ConfigError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return 2
    size = out.stat().st_size / 2**20
    print(f"{out} ({size:.0f} MiB, {time.monotonic() - started:.0f} s): "
          f"--archives {out}#environment --conf spark.pyspark.python=./environment/{ENV_PYTHON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
