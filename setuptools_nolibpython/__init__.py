"""setuptools-nolibpython: extension modules that never link libpython.

The setuptools classes are loaded on first use so that the checker CLI does not pay
for importing setuptools.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["__version__", "build_ext"]


def __getattr__(name: str) -> Any:
    if name == "build_ext":
        from .commands import build_ext

        return build_ext
    raise AttributeError(f"module 'setuptools_nolibpython' has no attribute {name!r}")
