"""A demo package whose C extension must not need libpython."""

from ._core import add, runtime_version

__all__ = ["add", "runtime_version"]
