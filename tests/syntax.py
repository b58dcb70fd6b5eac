"""Syntax trees of Python source for the tests that read the code itself, parsed in a child Python.

CPython 3.11 keeps the AST builder's recursion counter in the interpreter's ``_ast`` module state, which every
thread shares: an ``ast.parse`` in the test process while another thread parses too (a callback or server thread
an earlier test left running) fails with "AST constructor recursion depth mismatch". The full suite hit it twice,
once from a thread of the test's own. A child process parses alone and sends the trees back pickled (unpickling
builds the nodes through their Python constructors, not the counted builder)."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_CHILD = ("import ast, pickle, sys\n"
          "sources = pickle.load(sys.stdin.buffer)\n"
          "pickle.dump([ast.parse(text, name) for text, name in sources], sys.stdout.buffer)\n")


def parse_sources(sources: Sequence[tuple[str, str]]) -> list[ast.Module]:
    """The syntax tree of each (source text, file name), in order, parsed by one child Python."""
    done = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(list(sources)), capture_output=True,
                          check=False)
    if done.returncode:
        raise AssertionError(f"parsing {[name for _, name in sources]} failed:\n{done.stderr.decode()}")
    return pickle.loads(done.stdout)


def parse(text: str, name: str = "<source>") -> ast.Module:
    """The syntax tree of one source text."""
    return parse_sources([(text, name)])[0]


def parse_files(paths: Sequence[Path]) -> list[ast.Module]:
    """The syntax tree of each file, in order."""
    return parse_sources([(path.read_text(), str(path)) for path in paths])
