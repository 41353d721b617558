"""Which CPython build a file, a wheel tag or an interpreter is for.

Symbols differ between X.Y versions and between ABI flags (``t`` free-threaded, ``d``
debug), so Py* symbols are judged only against the matching build.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Iterable, Optional, Set, Tuple

from packaging.tags import parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .stable_abi import Version

__all__ = [
    "PYTHON_NAME",
    "Build",
    "abi_flags",
    "cp_build",
    "file_python_build",
    "is_abi3_name",
    "is_python_symbol",
    "parse_wheel_tags",
]

_PY_SYMBOL = re.compile(r"^_?Py")
_CPYTHON_SUFFIX = re.compile(r"\.cpython-(\d)(\d+)([a-z]*)(?:-|\.so)")
PYTHON_NAME = re.compile(r"python(\d)\.(\d+)([a-z]*)")
_CP_TAG = re.compile(r"cp(\d)(\d+)([a-z]*)")

#: A CPython build as far as symbols go: X.Y and the ABI flags that change the exported
#: symbols ("t" free-threaded, "d" debug).
Build = Tuple[Version, str]


def abi_flags(text: str) -> str:
    return "".join(sorted(set(text) & {"t", "d"}))


def is_python_symbol(name: str) -> bool:
    return _PY_SYMBOL.match(name) is not None


def parse_wheel_tags(tags: Iterable[str]) -> Tuple[Set[str], Set[str]]:
    """(python tags, abi tags) from ``py-abi-plat`` triples (compressed sets expanded) or
    wheel file names, read by ``packaging`` (PEP 425, PEP 427); what it cannot parse says nothing."""
    pys: Set[str] = set()
    abis: Set[str] = set()
    for tag in tags:
        base = os.path.basename(tag)
        try:
            parsed = parse_wheel_filename(base)[3] if base.endswith(".whl") else parse_tag(base)
        except (InvalidWheelFilename, ValueError):
            continue
        pys.update(t.interpreter for t in parsed)
        abis.update(t.abi for t in parsed)
    return pys, abis


def cp_build(tag: str) -> Optional[Build]:
    m = _CP_TAG.fullmatch(tag)
    return ((int(m[1]), int(m[2])), abi_flags(m[3])) if m else None


def file_python_build(path: str) -> Optional[Build]:
    """X.Y and flags from an extension suffix such as ``.cpython-313t-x86_64-linux-gnu.so``."""
    m = _CPYTHON_SUFFIX.search(posixpath.basename(path))
    return ((int(m[1]), int(m[2])), abi_flags(m[3])) if m else None


def is_abi3_name(path: str) -> bool:
    return ".abi3." in posixpath.basename(path)
