"""System libraries: what a wheel may assume the target machine provides, never bundles.

The list is the union of the ``lib_whitelist`` of the manylinux policies (PEP 513,
PEP 571, PEP 599 and PEP 600's manylinux_2_x, as auditwheel's manylinux-policy.json
states them) and of the musllinux policies (PEP 656: musl's libc and libz), plus the
dynamic loaders, which every program gets from the system. Advice to bundle a library
never names one of these: a C library bundled in a wheel breaks the process it loads in.
"""

from __future__ import annotations

import re
from typing import FrozenSet, Optional, Tuple

__all__ = [
    "DRIVER_LIBRARIES",
    "GLIBC",
    "MANYLINUX_LIBRARIES",
    "MUSL",
    "MUSLLINUX_LIBRARIES",
    "is_system_library",
    "libc_of",
    "libc_of_platform_tag",
]

#: manylinux_2_5 .. manylinux_2_41 lib_whitelist (libexpat.so.1 from manylinux2010 on, glibc's
#: vector math library libmvec.so.1 from manylinux_2_24 on).
MANYLINUX_LIBRARIES: FrozenSet[str] = frozenset({
    "libatomic.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libmvec.so.1", "libanl.so.1",
    "libdl.so.2", "librt.so.1", "libc.so.6", "libnsl.so.1", "libutil.so.1", "libpthread.so.0", "libX11.so.6",
    "libXext.so.6", "libXrender.so.1", "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0",
    "libgthread-2.0.so.0", "libglib-2.0.so.0", "libresolv.so.2", "libexpat.so.1", "libz.so.1",
})

#: Libraries of the GPU driver or of the system's ICD/GL loaders: never bundled (a copy
#: from the build machine would not match the target's driver), so wheels that need them
#: are repaired with ``auditwheel repair --exclude`` and the target provides them.
DRIVER_LIBRARIES: FrozenSet[str] = frozenset({
    "libcuda.so.1", "libnvidia-ml.so.1", "libnvcuvid.so.1", "libnvidia-encode.so.1", "libOpenCL.so.1",
    "libvulkan.so.1", "libEGL.so.1", "libGLX.so.0", "libOpenGL.so.0", "libGLESv2.so.2",
})

#: musllinux_1_1 / musllinux_1_2 lib_whitelist.
MUSLLINUX_LIBRARIES: FrozenSet[str] = frozenset({"libc.so", "libz.so.1"})

#: musl's libc under the name a DT_NEEDED entry gives it (libc.musl-x86_64.so.1), and its loader.
_MUSL_LIBC = re.compile(r"^(?:libc\.musl-[a-z0-9_]+\.so\.1|ld-musl-[a-z0-9_]+\.so\.1)$")
#: glibc's dynamic loaders (ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld64.so.2, ld-linux.so.2).
_GLIBC_LOADER = re.compile(r"^(?:ld-linux[a-z0-9_-]*\.so\.\d|ld64\.so\.\d|ld\.so\.\d)$")

GLIBC = "glibc"
MUSL = "musl"


def is_system_library(name: str) -> bool:
    """True for a DT_NEEDED name that the manylinux or musllinux policies let a wheel assume,
    or that the target's GPU driver or GL/ICD loader provides."""
    base = name.rsplit("/", 1)[-1]
    return (
        base in MANYLINUX_LIBRARIES
        or base in MUSLLINUX_LIBRARIES
        or base in DRIVER_LIBRARIES
        or _MUSL_LIBC.match(base) is not None
        or _GLIBC_LOADER.match(base) is not None
    )


def libc_of(needed: Tuple[str, ...], interp: Optional[str] = None) -> Optional[str]:
    """"glibc", "musl" or None (unknown: a file that names no C library) from DT_NEEDED/PT_INTERP."""
    names = [n.rsplit("/", 1)[-1] for n in needed] + ([interp.rsplit("/", 1)[-1]] if interp else [])
    if any(_MUSL_LIBC.match(n) for n in names):
        return MUSL
    if any(n == "libc.so.6" or _GLIBC_LOADER.match(n) for n in names):
        return GLIBC
    return None


def libc_of_platform_tag(platform: str) -> Optional[str]:
    """The C library a wheel platform tag promises: musllinux_* is musl, manylinux* glibc."""
    if platform.startswith("musllinux_"):
        return MUSL
    if platform.startswith("manylinux"):
        return GLIBC
    return None
