"""Which CPython build a file, a wheel tag or an interpreter is for.

Symbols differ between X.Y versions and between ABI flags (``t`` free-threaded, ``d``
debug), so Py* symbols are judged only against the matching build.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Iterable, Optional, Set, Tuple

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
    """(python tags, abi tags) from ``py-abi-plat`` triples or wheel file names."""
    pys: Set[str] = set()
    abis: Set[str] = set()
    for tag in tags:
        base = os.path.basename(tag)
        if base.endswith(".whl"):
            base = base[:-4]
        parts = base.split("-")
        if len(parts) < 3:
            continue
        py, abi = parts[-3], parts[-2]
        pys.update(py.split("."))
        abis.update(abi.split("."))
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
