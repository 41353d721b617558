"""Verdicts: what in an ElfInfo breaks the no-libpython rule (findings words it).

The verdicts are pure functions over ElfInfo; anything that needs the file system comes
in as a value or a callable, so that the plugin (build machine) and the CLI (any wheel)
share one policy. The inputs that read this machine (current_interpreter_libdirs,
dir_has_libpython) and the ``allow`` test live here too, beside the verdicts they feed.
"""

from __future__ import annotations

import os
import re
import sysconfig
from functools import lru_cache
from typing import Callable, Iterable, List, Sequence, Tuple

from . import findings
from .elf import ElfInfo, uses_origin
from .findings import Code, Problem, printable
from .globs import matches_any
from .names import is_libpython_filename
from .results import ERROR as ERROR  # their old home
from .results import NOTE as NOTE
from .results import WARNING as WARNING

__all__ = [
    "EXECUTABLE_NEEDS_LIBPYTHON",
    "LEAKED_RPATH",
    "NEEDS_LIBPYTHON",
    "PYTHON_RPATH",
    "UNREADABLE",
    "current_interpreter_libdirs",
    "dir_has_libpython",
    "is_allowed",
    "leaked_rpath_problems",
    "libpython_needed",
    "libpython_problems",
    "printable",
    "removable_rpath_entries",
    "rpath_problems",
]

# The codes this module decides, by their old names (findings.Code is the one definition).
NEEDS_LIBPYTHON = Code.NEEDS_LIBPYTHON
EXECUTABLE_NEEDS_LIBPYTHON = Code.EXECUTABLE_NEEDS_LIBPYTHON
PYTHON_RPATH = Code.PYTHON_RPATH
LEAKED_RPATH = Code.LEAKED_RPATH
UNREADABLE = Code.UNREADABLE


def current_interpreter_libdirs() -> Tuple[str, ...]:
    """The running interpreter's LIBDIR (and its real path): where libpython lives."""
    out: List[str] = []
    for var in ("LIBDIR", "LIBPL"):
        d = sysconfig.get_config_var(var)
        if isinstance(d, str) and d:
            for p in (os.path.normpath(d), os.path.realpath(d)):
                if p not in out:
                    out.append(p)
    return tuple(out)


@lru_cache(maxsize=256)
def dir_has_libpython(path: str) -> bool:
    """Does a directory on this machine hold a libpython (an RPATH entry that serves it)?"""
    try:
        return any(is_libpython_filename(n) for n in os.listdir(path))
    except OSError:
        return False


def is_allowed(path: str, patterns: Sequence[str]) -> bool:
    """Does an ``allow`` glob match ``path``? (path-segment semantics: see globs)."""
    return matches_any(path, patterns)


def libpython_needed(info: ElfInfo) -> Tuple[str, ...]:
    """The DT_NEEDED entries that name a CPython runtime library."""
    return tuple(n for n in info.needed if is_libpython_filename(n))


_PYTHON_LIBDIR_PATTERNS = (
    re.compile(r"/\.?pyenv/versions/[^/]+/lib/?$"),
    re.compile(r"^/opt/python/[^/]+/lib/?$"),  # manylinux images
    re.compile(r"/lib/python[23]\.\d+[a-z]*/config-[^/]+/?$"),
    re.compile(r"/(?:python|Python|cpython)-?[23]\.\d+[^/]*/lib/?$"),
)


def _is_python_libdir(
    path: str,
    interpreter_libdirs: Iterable[str] = (),
    dir_has_libpython: Callable[[str], bool] = lambda _d: False,
) -> bool:
    """Does an RPATH/RUNPATH entry point at a Python installation's lib dir?

    True for the given interpreters' LIBDIRs, a directory that holds a libpython, or a
    well-known layout (pyenv, manylinux /opt/python, config-X.Y dirs). ``$ORIGIN`` paths
    are the module's own and never count.
    """
    if uses_origin(path) or not path.startswith("/"):
        return False
    norm = os.path.normpath(path)
    if norm in {os.path.normpath(d) for d in interpreter_libdirs}:
        return True
    if any(p.search(norm) for p in _PYTHON_LIBDIR_PATTERNS):
        return True
    return dir_has_libpython(norm)


def removable_rpath_entries(
    info: ElfInfo,
    interpreter_libdirs: Iterable[str] = (),
    dir_has_libpython: Callable[[str], bool] = lambda _d: False,
    lib_exists: Callable[[str], bool] = lambda _p: False,
) -> Tuple[str, ...]:
    """RPATH/RUNPATH entries that only served libpython and leak the build machine's paths.

    An entry stays if any library the file still needs (libpython aside) lives there:
    on conda-style prefixes the lib dir also serves libssl, libz and friends.
    """
    if info.is_executable and libpython_needed(info):
        return ()  # a program keeps its libpython (repair never edits it), so the entry serves it
    libdirs = tuple(interpreter_libdirs)
    others = [n for n in info.needed if not is_libpython_filename(n) and "/" not in n]
    out: List[str] = []
    for entry in info.rpath + info.runpath:
        if entry in out or not _is_python_libdir(entry, libdirs, dir_has_libpython):
            continue
        if any(lib_exists(os.path.join(entry, n)) for n in others):
            continue
        out.append(entry)
    return tuple(out)


def libpython_problems(
    info: ElfInfo, allowed: bool = False, context: str = "check", backend_hint: str = ""
) -> List[Problem]:
    """An extension module must not link libpython (PEP 513); a program that embeds Python
    legitimately does, but then starts only where that library is installed.

    ``allowed``: the file matches ``allow`` (it may link libpython): the finding stays, so
    the summary counts it, but it offers no fix (results.FileResult.waived)."""
    return [findings.needs_libpython(name, info.is_executable, allowed, context, backend_hint)
            for name in libpython_needed(info)]


def leaked_rpath_problems(info: ElfInfo, exists: Callable[[str], bool], reported: Iterable[str] = ()) -> List[Problem]:
    """Absolute RPATH/RUNPATH entries that do not exist on this machine: the build machine's
    layout (a CI runner's temporary directory), searched on every user's machine. A note:
    harmless unless someone creates that directory, and nothing to do with libpython."""
    skip = set(reported)
    out: List[Problem] = []
    for kind, entries in (("RPATH", info.rpath), ("RUNPATH", info.runpath)):
        for entry in dict.fromkeys(entries):
            if entry in skip or uses_origin(entry) or not entry.startswith("/") or exists(entry):
                continue
            out.append(findings.leaked_rpath(kind, entry))
    return out


def rpath_problems(info: ElfInfo, removable: Iterable[str]) -> List[Problem]:
    def kind(entry: str) -> str:
        return "/".join(k for k, paths in (("RPATH", info.rpath), ("RUNPATH", info.runpath)) if entry in paths)

    return [findings.python_rpath(kind(entry), entry) for entry in removable]
