"""Verdicts: what in an ElfInfo breaks the no-libpython rule, and how to fix it.

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

from .elf import ElfInfo, uses_origin
from .globs import matches_any
from .names import is_libpython_filename
from .results import ERROR, NOTE, WARNING, Problem

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

NEEDS_LIBPYTHON = "needs-libpython"
EXECUTABLE_NEEDS_LIBPYTHON = "executable-needs-libpython"
PYTHON_RPATH = "python-rpath"
LEAKED_RPATH = "leaked-rpath"
UNREADABLE = "unreadable"


_ALLOW_HINT = "if the file embeds Python on purpose, list it in allow"
#: The fix for a module that links libpython, by where the verdict is read (ScanOptions.context).
_FIX_LIBPYTHON = {
    # A finished wheel or tree: whoever built it can change the link, or repair the wheel.
    "check": (
        "do not link libpython: remove it from libraries=, extra_link_args, extra_objects or LDFLAGS "
        "(builds with setuptools-nolibpython enabled strip it), or run "
        f"'nolibpython repair' on the wheel; {_ALLOW_HINT}"
    ),
    # Inside a setuptools build with the plugin on: its links are already stripped, and
    # there is no wheel yet to repair.
    "build": (
        "this build strips libpython from every setuptools link, so the file was linked elsewhere (a "
        "prebuilt library in the package data, or a custom step such as CMake run from build_ext): rebuild "
        'it without libpython, or set on-violation = "repair" in [tool.setuptools-nolibpython] to remove '
        f"the entry before the wheel is written; {_ALLOW_HINT}"
    ),
}
#: Under the wrapper the backend's own fix (backend_hint) comes first.
_FIX_BACKEND = (
    'or set on-violation = "repair" in [tool.setuptools-nolibpython] to remove the entry before the wheel '
    f"is handed over; {_ALLOW_HINT}"
)


def libpython_fix(context: str = "check", backend_hint: str = "") -> str:
    """How to fix a module that links libpython, said where the reader can act on it."""
    if context == "backend":
        first = backend_hint or "do not link libpython in the backend's link step (the build's linker flags)"
        return f"{first}; {_FIX_BACKEND}"
    return _FIX_LIBPYTHON.get(context, _FIX_LIBPYTHON["check"])


_FIX_EXECUTABLE = (
    "link libpython statically (libpythonX.Y.a, with -Wl,-E so that modules find its symbols), or make "
    "the program depend on an installed libpython (the package that provides it), or list it in allow; "
    "repair never edits a program: without that entry it would fail at start-up"
)


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


def printable(text: str) -> str:
    """A string from a file, safe in a one-line message: undecodable bytes (kept by
    read_string as surrogates) and control characters are shown as escapes."""
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in raw)


def libpython_problems(
    info: ElfInfo, allowed: bool = False, context: str = "check", backend_hint: str = ""
) -> List[Problem]:
    """An extension module must not link libpython (PEP 513); a program that embeds Python
    legitimately does, but then starts only where that library is installed.

    ``allowed``: the file matches ``allow`` (it may link libpython): the finding stays, so
    the summary counts it, but it offers no fix (results.FileResult.waived)."""
    out: List[Problem] = []
    for name in libpython_needed(info):
        shown = printable(name)
        if info.is_executable:
            message = (f"is a program that embeds Python through {shown} (DT_NEEDED), not an extension "
                       "module: it starts only where that library is installed")
            code, fix = EXECUTABLE_NEEDS_LIBPYTHON, _FIX_EXECUTABLE
        else:
            message, code, fix = f"needs {shown} (DT_NEEDED)", NEEDS_LIBPYTHON, libpython_fix(context, backend_hint)
        if allowed:
            message += "; allowed to link libpython (matches allow)"
            fix = ""
        out.append(Problem(code, ERROR, message, fix, name))
    return out


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
            out.append(Problem(
                LEAKED_RPATH, NOTE,
                f"{kind} entry {printable(entry)} does not exist on this machine: it leaks the build machine's "
                "layout, and ld.so searches that path on every machine the file is installed on",
                "drop the -Wl,-rpath (CMake: the build RPATH) that put it there, or use $ORIGIN-relative entries",
                entry,
            ))
    return out


def rpath_problems(info: ElfInfo, removable: Iterable[str]) -> List[Problem]:
    def kind(entry: str) -> str:
        return "/".join(k for k, paths in (("RPATH", info.rpath), ("RUNPATH", info.runpath)) if entry in paths)

    return [
        Problem(
            PYTHON_RPATH,
            WARNING,
            f"{kind(entry)} entry {printable(entry)} points at a Python installation's lib dir",
            "it only served libpython and leaks the build machine's paths: set strip-rpath = true "
            "(the default) or run 'nolibpython repair'",
            entry,
        )
        for entry in removable
    ]
