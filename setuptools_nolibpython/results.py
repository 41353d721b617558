"""What a scan finds, as plain data: one FileResult per ELF file, one ScanReport.

Shared by the verdicts (policy, symbols), the scanner, the words (report) and the
build step (enforce), none of which needs the others to read a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, Sequence, Tuple, Union, cast

from .findings import Code, Problem, Severity

if TYPE_CHECKING:  # plain data: a report of no ELF file needs no ELF reader
    from .elf import ElfInfo
    from .pybuild import WheelTarget
    from .sources import ByteSource

__all__ = [
    "ERROR", "LIBPYTHON_CODES", "NOTE", "WARNING", "FileResult", "Located", "Problem", "ScanOptions", "ScanReport",
    "SymbolSettings", "WheelCheck",
]

# The severities, by their old names (findings.Severity is the one definition).
ERROR = Severity.ERROR
WARNING = Severity.WARNING
NOTE = Severity.NOTE
#: The findings ``allow`` waives: linking libpython (a module, or a program that embeds
#: Python). ``allow`` means "may link libpython" and nothing more.
LIBPYTHON_CODES = frozenset({Code.NEEDS_LIBPYTHON, Code.EXECUTABLE_NEEDS_LIBPYTHON})


#: Where one DT_NEEDED entry of a file was found, for ``--json`` (symbols.SymbolCheck).
Located = Mapping[str, Optional[str]]


class WheelCheck(Protocol):
    """A check that needs more than one file at a time (symbol resolution needs every
    bundled library): ``collect`` sees each file while it is open, ``finish`` sees them all.
    After ``finish``: ``notes`` (what it could not verify), ``unchecked`` (why it judged
    nothing, or None) and ``libraries`` (where each file's DT_NEEDED entries were found)
    become part of the ScanReport (scan.finish_scan)."""

    @property
    def notes(self) -> Sequence[str]: ...

    @property
    def unchecked(self) -> Optional[str]: ...

    @property
    def libraries(self) -> Mapping[str, Sequence[Located]]: ...

    def collect(self, path: str, src: ByteSource, info: ElfInfo) -> None: ...

    def finish(self) -> Mapping[str, Sequence[Problem]]: ...


@dataclass(frozen=True)
class SymbolSettings:
    """The symbol check's settings; each scan makes its own check from them (symbols.symbol_checks).

    ``severity`` "error" or "warn"; ``interpreter`` the Python whose global scope modules
    are imported into (None: the running one); ``wheel_tags`` the wheel's target (a
    pybuild.WheelTarget) or its tags; ``missing_libraries`` "error" in strict mode, else
    "warn"; ``environment``: the files are an installed environment, loaded together."""

    severity: str = "error"
    interpreter: Optional[str] = None
    wheel_tags: Union["WheelTarget", Tuple[str, ...]] = ()
    missing_libraries: str = "warn"
    environment: bool = False

    @staticmethod
    def unless_off(severity: str, interpreter: Optional[str] = None,
                   wheel_tags: Union["WheelTarget", Sequence[str]] = (), missing_libraries: str = "warn",
                   environment: bool = False) -> Optional["SymbolSettings"]:
        """The settings from the config's or the CLI's values; None for ``severity`` "off"."""
        if severity == "off":
            return None
        tags: Union[WheelTarget, Tuple[str, ...]]
        if isinstance(wheel_tags, str):  # one tag, or a wheel's file name
            tags = (wheel_tags,)
        elif isinstance(wheel_tags, (list, tuple)):
            tags = tuple(wheel_tags)
        else:  # a pybuild.WheelTarget (not imported here: a report needs no tag parser)
            tags = cast("WheelTarget", wheel_tags)
        return SymbolSettings(severity, interpreter, tags, missing_libraries, environment)


@dataclass(frozen=True)
class ScanOptions:
    """What a scan is told: settings only (the checks that collect state are the scan's own)."""

    allow: Tuple[str, ...] = ()
    interpreter_libdirs: Tuple[str, ...] = ()
    check_rpath: bool = True
    #: The symbol check, or None for none (``check-symbols = "off"``).
    symbols: Optional[SymbolSettings] = None
    #: Where the verdict is read, which decides the fix a libpython link gets: "check" (a
    #: finished wheel or tree), "build" (a setuptools build with the plugin on, no wheel
    #: yet) or "backend" (the wrapper around another PEP 517 backend, named by backend_hint).
    context: str = "check"
    backend_hint: str = ""

    #: The bytes to judge instead of a file's own (name, source -> source): a build judges
    #: each file as its planned fixes leave it, before anything is written (enforce).
    view: Optional[Callable[[str, "ByteSource"], "ByteSource"]] = None


@dataclass(frozen=True)
class FileResult:
    path: str
    info: Optional[ElfInfo]
    problems: Tuple[Problem, ...]
    allowed: bool = False

    def waived(self, problem: Problem) -> bool:
        """Is this finding waived by ``allow`` (a libpython link of a file allowed to have one)?"""
        return self.allowed and problem.code in LIBPYTHON_CODES

    @property
    def verdict(self) -> str:
        """"violation" when any error is not waived; "allowed" when the only errors are
        waived libpython links; else "clean" (warnings and notes never fail a file)."""
        if self.info is None:
            return "unreadable"
        errors = [p for p in self.problems if p.severity == ERROR]
        if any(not self.waived(p) for p in errors):
            return "violation"
        return "allowed" if errors else "clean"

    @property
    def failed(self) -> bool:
        return self.verdict in ("violation", "unreadable")


@dataclass(frozen=True)
class ScanReport:
    """One target, judged: the one outcome the CLI's text, ``--json`` and the build log render."""

    target: str
    files: Tuple[FileResult, ...]
    errors: Tuple[str, ...] = field(default=())  # problems of the container itself
    #: Bugs met while judging (errors.InternalError lines): no verdict on those files.
    internal_errors: Tuple[str, ...] = field(default=())
    #: What the whole-wheel checks could not verify ("symbols not checked", "built for
    #: another machine"): said by the CLI and the build log alike.
    notes: Tuple[str, ...] = field(default=())
    #: The symbol check: "off" (none ran), "checked", or "not-checked" with its reason.
    symbol_check: str = "off"
    symbol_reason: Optional[str] = None
    #: Where each file's DT_NEEDED entries were found (path -> one entry per name).
    libraries: Mapping[str, Tuple[Located, ...]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or bool(self.internal_errors) or any(f.failed for f in self.files)

    @property
    def failures(self) -> Tuple[FileResult, ...]:
        return tuple(f for f in self.files if f.failed)
