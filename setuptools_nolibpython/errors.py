"""One family of errors: every failure the package reports to a person is a NoLibpythonError.

Each subclass carries a one-line message naming the file and the problem, so callers
catch the base class (or one subclass) instead of a tuple of unrelated types. The
setuptools-facing error (commands.BuildError) is also a setuptools error, so that
setuptools prints ``error: ...`` and exits with status 1.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import List, Tuple, Type

__all__ = [
    "MEMBER_ERRORS",
    "ZIP_ERRORS",
    "ConfigError",
    "ElfReadError",
    "InternalError",
    "NoLibpythonError",
    "RepairError",
    "SourceError",
    "UsageError",
    "ViolationError",
]


class NoLibpythonError(Exception):
    """Base class; ``str()`` is one line for a person."""


class ConfigError(NoLibpythonError, ValueError):
    """A bad value in the table or the environment; the message names file and key."""


class SourceError(NoLibpythonError):
    """The bytes asked for are not there (truncated input or an I/O failure)."""


class ElfReadError(NoLibpythonError):
    """A file that looks like ELF but cannot be read; ``str()`` is a one-line reason."""


class InternalError(Exception):
    """A bug in this package met while judging one file: never a verdict about the file.

    Deliberately not a NoLibpythonError (those are findings about the input). ``str()``
    is one line naming the file and asking for a bug report."""

    def __init__(self, path: str, cause: BaseException) -> None:
        self.path = path
        self.cause = cause
        super().__init__(
            f"{path}: internal error ({type(cause).__name__}: {cause}): a bug in setuptools-nolibpython, "
            "not a verdict on the file; please report it with this line and the file"
        )


class ViolationError(NoLibpythonError):
    """The build must fail; the message lists each file, what is wrong and the fix."""


class RepairError(NoLibpythonError):
    """The wheel cannot be repaired; ``str()`` is one line naming the wheel and the reason."""


class UsageError(NoLibpythonError):
    """Bad command-line arguments; ``str()`` is one line naming the argument."""


def _zip_errors() -> Tuple[Type[BaseException], ...]:
    errors: List[Type[BaseException]] = [zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError]
    try:
        import lzma

        errors.append(lzma.LZMAError)
    except ImportError:  # pragma: no cover - Python built without lzma
        pass
    return tuple(errors)


#: What opening or reading a hostile zip member raises: zipfile's own errors, a bad
#: deflate/bzip2/lzma stream, an encrypted or unsupported entry (RuntimeError and its
#: subclass NotImplementedError: "zip file version 25.5"), I/O.
ZIP_ERRORS: Tuple[Type[BaseException], ...] = _zip_errors()
#: The same, for a member read through a sources.ZipMemberSource (which raises SourceError).
MEMBER_ERRORS: Tuple[Type[BaseException], ...] = (SourceError, *ZIP_ERRORS)
