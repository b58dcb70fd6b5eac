"""Optional numba acceleration for the per-point detector kernels.

Kernels are written in the subset of Python that numba compiles. When numba is importable (and
``LAKEWATCH_DISABLE_NUMBA`` is not set to ``1``) they are compiled with ``cache=True``; otherwise they run as
plain Python: the same results, only much slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

# Fast-math flags that let LLVM vectorise the distance loops; 'nnan' and 'ninf' are left out on purpose
# because kernels see only finite inputs but may produce inf while searching minima.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

try:  # pragma: no cover - exercised through whichever branch the environment provides
    if os.environ.get("LAKEWATCH_DISABLE_NUMBA", "") == "1":
        raise ImportError("numba disabled by LAKEWATCH_DISABLE_NUMBA=1")
    import numba as _numba

    HAVE_NUMBA = True
    NUMBA_VERSION: str | None = _numba.__version__
except ImportError:  # pragma: no cover
    _numba = None
    HAVE_NUMBA = False
    NUMBA_VERSION = None


def jit(fn: _F) -> _F:
    """Compile ``fn`` with numba (nopython, cached) when available; return it unchanged otherwise."""
    if _numba is None:
        return fn
    return _numba.njit(cache=True, nogil=True)(fn)  # type: ignore[return-value]


def jit_fast(fn: _F) -> _F:
    """Like :func:`jit`, with the vectorisation-friendly fast-math flags (no nnan/ninf assumptions)."""
    if _numba is None:
        return fn
    return _numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)(fn)  # type: ignore[return-value]
