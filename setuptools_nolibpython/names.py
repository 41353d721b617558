"""Recognise every spelling of libpython: file names, ``-l`` names and link paths.

One place knows the names so that link-flag filtering, the ELF policy and repair agree.
Covers the ABI-flag suffixes ``m`` (<=3.7), ``d`` (debug), ``t`` (free-threaded) and
``u`` (2.x wide), the stable-ABI shim ``libpython3.so``, Python 2, and unversioned or
fully versioned ``.so`` names, plus static archives.
"""

from __future__ import annotations

import os
import re

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


def is_libpython_static(name: str) -> bool:
    """True for ``libpythonX.Y.a`` (or ``-pic.a``): linking it embeds a second runtime."""
    m = _FILE_RE.match(os.path.basename(name))
    return m is not None and m.group("static") is not None


def is_libpython_libname(name: str) -> bool:
    """True for a library name as given to ``-l`` or ``Extension(libraries=...)``.

    Accepts both ``python3.11`` and the verbatim form ``:libpython3.11.so.1.0``.
    """
    if name.startswith(":"):
        return is_libpython_filename(name[1:])
    return _LIB_RE.match(name) is not None


#: Libraries the manylinux policies (PEP 513, 571, 599, 600's auditwheel policies) let a
#: wheel need without bundling them: the target system provides them, so one missing on
#: the checking machine says nothing about the wheel.
POLICY_SYSTEM_LIBRARIES = frozenset({
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libnsl.so.1", "libresolv.so.2", "libcrypt.so.1", "libgcc_s.so.1", "libstdc++.so.6",
    "libX11.so.6", "libXext.so.6", "libXrender.so.1", "libICE.so.6", "libSM.so.6", "libGL.so.1",
    "libgobject-2.0.so.0", "libgthread-2.0.so.0", "libglib-2.0.so.0", "libpanelw.so.5",
    "libncursesw.so.5", "libz.so.1", "libexpat.so.1",
})
# glibc's and musl's dynamic loaders and musl's libc (musllinux), for every architecture.
_SYSTEM_RE = re.compile(
    r"^(ld-linux[-\w.]*\.so\.\d+|ld64\.so\.\d+|ld\.so\.\d+|ld-musl-\w+\.so\.1|libc\.musl-\w+\.so\.1)$"
)


def is_policy_system_library(name: str) -> bool:
    """True for a DT_NEEDED name that a manylinux/musllinux target system provides."""
    base = os.path.basename(name)
    return base in POLICY_SYSTEM_LIBRARIES or _SYSTEM_RE.match(base) is not None
