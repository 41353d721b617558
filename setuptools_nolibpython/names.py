"""Recognise every spelling of libpython: file names, ``-l`` names and link paths.

One place knows the names so that link-flag filtering, the ELF policy and repair agree.
Covers the ABI-flag suffixes ``m`` (<=3.7), ``d`` (debug), ``t`` (free-threaded) and
``u`` (2.x wide), the stable-ABI shim ``libpython3.so``, Python 2, and unversioned or
fully versioned ``.so`` names, plus static archives.
"""

from __future__ import annotations

import os
import re

__all__ = ["is_libpython_filename", "is_libpython_libname"]

# libpython3.11.so.1.0, libpython3.13t.so, libpython3.7m.so.1.0, libpython3.so,
# libpython2.7.a, libpython3.14td.so.1.0, and Debian's position-independent archive
# libpython3.11-pic.a (the one that links into a shared object) ...
_FILE_RE = re.compile(
    r"^libpython(?P<ver>[23](?:\.\d+)?)(?P<abi>[dmtu]*)(?:\.(?P<so>so(?:\.\d+)*)|(?P<static>(?:-pic)?\.a))$"
)
# python3.11, python3, python3.13t, python2.7, python3.11-pic (what follows ``-l`` or
# sits in ``libraries=``)
_LIB_RE = re.compile(r"^python(?P<ver>[23](?:\.\d+)?)(?P<abi>[dmtu]*)(?:-pic)?$")


def is_libpython_filename(name: str) -> bool:
    """True for a file name or DT_NEEDED value that names a CPython runtime library.

    A DT_NEEDED entry may hold a path (a library without SONAME linked by path), so
    only the last component counts.
    """
    return _FILE_RE.match(os.path.basename(name)) is not None


def is_libpython_libname(name: str) -> bool:
    """True for a library name as given to ``-l`` or ``Extension(libraries=...)``.

    Accepts both ``python3.11`` and the verbatim form ``:libpython3.11.so.1.0``.
    """
    if name.startswith(":"):
        return is_libpython_filename(name[1:])
    return _LIB_RE.match(name) is not None

