"""What a scan finds, as plain data: one Problem, one FileResult per ELF file, one ScanReport.

Shared by the verdicts (policy, symbols), the scanner, the words (report) and the
build step (enforce), none of which needs the others to read a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, Sequence, Tuple

if TYPE_CHECKING:  # plain data: a report of no ELF file needs no ELF reader
    from .elf import ElfInfo
    from .sources import ByteSource

__all__ = ["ERROR", "WARNING", "FileResult", "Problem", "ScanOptions", "ScanReport", "WheelCheck"]

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: ``code`` for machines, ``message`` and ``fix`` for people."""

    code: str
    severity: str
    message: str
    fix: str
    detail: str = ""  # the offending value: a DT_NEEDED name, an RPATH entry, a symbol


class WheelCheck(Protocol):
    """A check that needs more than one file at a time (symbol resolution needs every
    bundled library): ``collect`` sees each file while it is open, ``finish`` sees them all."""

    def collect(self, path: str, src: ByteSource, info: ElfInfo) -> None: ...

    def finish(self) -> Mapping[str, Sequence[Problem]]: ...


@dataclass(frozen=True)
class ScanOptions:
    allow: Tuple[str, ...] = ()
    interpreter_libdirs: Tuple[str, ...] = ()
    check_rpath: bool = True
    checks: Tuple[WheelCheck, ...] = ()  # fresh per scan
    #: The bytes to judge instead of a file's own (name, source -> source): a build judges
    #: each file as its planned fixes leave it, before anything is written (enforce).
    view: Optional[Callable[[str, "ByteSource"], "ByteSource"]] = None


@dataclass(frozen=True)
class FileResult:
    path: str
    info: Optional[ElfInfo]
    problems: Tuple[Problem, ...]
    allowed: bool = False

    @property
    def verdict(self) -> str:
        if self.info is None:
            return "unreadable"
        if any(p.severity == ERROR for p in self.problems):
            return "allowed" if self.allowed else "violation"
        return "clean"

    @property
    def failed(self) -> bool:
        return self.verdict in ("violation", "unreadable")


@dataclass(frozen=True)
class ScanReport:
    target: str
    files: Tuple[FileResult, ...]
    errors: Tuple[str, ...] = field(default=())  # problems of the container itself

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(f.failed for f in self.files)

    @property
    def failures(self) -> Tuple[FileResult, ...]:
        return tuple(f for f in self.files if f.failed)
