"""Which CPython build a file, a wheel tag or an interpreter is for.

Symbols differ between X.Y versions and between ABI flags (``t`` free-threaded, ``d``
debug), so Py* symbols are judged only against the matching build.

Stable ABI modules come in two kinds: ``abi3`` (PEP 384, ``.abi3.so``) and, from 3.15,
``abi3t`` (PEP 803, the Stable ABI for free-threaded builds: ``.abi3t.so``, wheel tags
``cp315-abi3t`` or ``cp315-abi3.abi3t``). Wheel tags are read with ``packaging``:
``parse_tag`` splits any tag without knowing ABI names, so ``abi3t`` reads the same with
every supported version of it. Which tags an interpreter installs (``sys_tags``) is
another matter: older ``packaging`` releases do not know ``abi3t`` there (26.4 does, and
offers it to free-threaded interpreters only); nothing here uses ``sys_tags``.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import FrozenSet, Iterable, Optional, Set, Tuple, Union

from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .stable_abi import Version
from .syslibs import libc_of_platform_tag

__all__ = [
    "ABI3T_MINIMUM",
    "PYTHON_NAME",
    "Build",
    "WheelTarget",
    "abi_flags",
    "cp_build",
    "file_python_build",
    "is_abi3_name",
    "is_abi3t_name",
    "is_python_symbol",
    "parse_wheel_tags",
]

_PY_SYMBOL = re.compile(r"^_?Py")
_CPYTHON_SUFFIX = re.compile(r"\.cpython-(\d)(\d+)([a-z]*)(?:-|\.so)")
PYTHON_NAME = re.compile(r"python(\d)\.(\d+)([a-z]*)")
_CP_TAG = re.compile(r"cp(\d)(\d+)([a-z]*)")
#: ``.abi3.so``, ``.abi3-x86_64-linux-gnu.so`` (3.15 adds the multiarch form), and the abi3t forms.
_STABLE_ABI_SUFFIX = re.compile(r"\.abi3(t?)[.-]")

#: abi3t exists from 3.15 on: pyabi.h rejects Py_TARGET_ABI3T below 0x030f0000.
ABI3T_MINIMUM: Version = (3, 15)

#: A CPython build as far as symbols go: X.Y and the ABI flags that change the exported
#: symbols ("t" free-threaded, "d" debug).
Build = Tuple[Version, str]


def abi_flags(text: str) -> str:
    return "".join(sorted(set(text) & {"t", "d"}))


def is_python_symbol(name: str) -> bool:
    return _PY_SYMBOL.match(name) is not None


def parse_wheel_tags(tags: Iterable[str]) -> Tuple[Set[str], Set[str]]:
    """(python tags, abi tags) of WheelTarget.parse(tags)."""
    parsed = _parse_tags(tags)
    return {t.interpreter for t in parsed}, {t.abi for t in parsed}


def _parse_tags(tags: Iterable[str]) -> FrozenSet[Tag]:
    """``py-abi-plat`` triples (compressed sets expanded) or wheel file names, read by
    ``packaging`` (PEP 425, PEP 427); what it cannot parse says nothing."""
    out: Set[Tag] = set()
    for tag in tags:
        base = os.path.basename(tag)
        try:
            out.update(parse_wheel_filename(base)[3] if base.endswith(".whl") else parse_tag(base))
        except (InvalidWheelFilename, ValueError):
            continue
    return frozenset(out)


@dataclass(frozen=True)
class WheelTarget:
    """What a wheel is built for, read once from its tags and handed to the symbol check:
    ``tags`` as ``py-abi-plat`` strings (sorted), the C library its platform tags promise
    (musllinux_*: musl; None when they name none or disagree), whether it is tagged
    ``abi3`` / ``abi3t``, the CPython builds its abi tags (or, without a Stable ABI tag,
    its python tags) name, and its Stable ABI floor (the lowest cpXY of an abi3/abi3t wheel)."""

    tags: Tuple[str, ...] = ()
    libc: Optional[str] = None
    abi3: bool = False
    abi3t: bool = False
    builds: FrozenSet[Build] = frozenset()
    floor: Optional[Version] = None

    @property
    def stable_abi(self) -> bool:
        return self.abi3 or self.abi3t

    @classmethod
    def from_tags(cls, tags: Iterable[Tag]) -> "WheelTarget":
        tags = frozenset(tags)
        libcs = {libc_of_platform_tag(t.platform) for t in tags}
        abis = {t.abi for t in tags}
        abi3, abi3t = "abi3" in abis, "abi3t" in abis
        cp_versions = sorted(b[0] for b in (cp_build(t.interpreter) for t in tags) if b is not None)
        # The abi tag (cp313t) carries the flags; the python tag (cp313) only the version.
        builds = frozenset(b for b in (cp_build(a) for a in abis) if b is not None)
        if not builds and not (abi3 or abi3t):
            builds = frozenset((v, "") for v in cp_versions)
        return cls(
            tags=tuple(sorted(str(t) for t in tags)),
            libc=next(iter(libcs)) if len(libcs) == 1 else None,
            abi3=abi3, abi3t=abi3t, builds=builds,
            floor=cp_versions[0] if (abi3 or abi3t) and cp_versions else None,
        )

    @classmethod
    def parse(cls, tags: Union["WheelTarget", Iterable[str]]) -> "WheelTarget":
        """From tag strings or wheel file names (a WheelTarget is returned as it is)."""
        return tags if isinstance(tags, WheelTarget) else cls.from_tags(_parse_tags(tags))


def cp_build(tag: str) -> Optional[Build]:
    m = _CP_TAG.fullmatch(tag)
    return ((int(m[1]), int(m[2])), abi_flags(m[3])) if m else None


def file_python_build(path: str) -> Optional[Build]:
    """X.Y and flags from an extension suffix such as ``.cpython-313t-x86_64-linux-gnu.so``."""
    m = _CPYTHON_SUFFIX.search(posixpath.basename(path))
    return ((int(m[1]), int(m[2])), abi_flags(m[3])) if m else None


def is_abi3_name(path: str) -> bool:
    """A Stable ABI module by its file name: ``abi3`` or ``abi3t``."""
    return _STABLE_ABI_SUFFIX.search(posixpath.basename(path)) is not None


def is_abi3t_name(path: str) -> bool:
    """A free-threaded Stable ABI (PEP 803) module by its file name (``.abi3t.so``)."""
    m = _STABLE_ABI_SUFFIX.search(posixpath.basename(path))
    return m is not None and m[1] == "t"
