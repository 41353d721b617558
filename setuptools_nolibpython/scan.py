"""Find every ELF file in a tree or a wheel, read it, and collect verdicts.

The plugin (a build tree before the wheel is zipped) and the CLI (a wheel, a tree, a
single file) share this code. ELF files are found by their magic, not their names.
Whole-wheel checks (symbol resolution needs every bundled library) plug in through
results.WheelCheck.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from . import findings, policy, wheelsafety
from .elf import ELF_MAGIC, read_elf
from .errors import MEMBER_ERRORS, ZIP_ERRORS, ElfReadError, InternalError, SourceError
from .policy import dir_has_libpython, is_allowed
from .results import FileResult, Problem, ScanOptions, ScanReport, WheelCheck
from .sources import ByteSource, FileSource, is_elf_file, iter_tree_files

__all__ = [
    "Collected",
    "DirSurvey",
    "collect_elf_files",
    "collect_paths",
    "collect_wheel",
    "finish_scan",
    "is_elf_file",
    "iter_tree_files",
    "new_checks",
    "scan_elf_files",
    "scan_file",
    "scan_paths",
    "scan_tree",
    "scan_wheel",
    "survey_dir",
]


def _judge(path: str, src: ByteSource, options: ScanOptions, checks: Sequence[WheelCheck]) -> FileResult:
    """The verdict on one ELF file. The reader's own errors make it unreadable; anything
    else is a bug here, raised as InternalError (one line, never a verdict on the file)."""
    if options.view is not None:  # the bytes as the planned fixes leave them (enforce)
        src = options.view(path, src)
    try:
        return _judge_file(path, src, options, checks)
    except (ElfReadError, SourceError, OSError) as exc:  # the reader's own: the file's fault
        return FileResult(path, None, (_unreadable(exc),))
    except Exception as exc:  # a bug, whatever its type: never "unreadable", never "clean"
        raise InternalError(path, exc) from exc


def _judge_file(path: str, src: ByteSource, options: ScanOptions, checks: Sequence[WheelCheck]) -> FileResult:
    info = read_elf(src)
    allowed = is_allowed(path, options.allow)
    problems: List[Problem] = policy.libpython_problems(info, allowed, options.context, options.backend_hint)
    if options.check_rpath:
        drop = policy.removable_rpath_entries(
            info, options.interpreter_libdirs, dir_has_libpython, os.path.exists
        )
        problems += policy.rpath_problems(info, drop)
        problems += policy.leaked_rpath_problems(info, os.path.isdir, drop)
    for check in checks:
        try:
            check.collect(path, src, info)
        except ElfReadError as exc:
            problems.append(_unreadable(exc))
            return FileResult(path, None, tuple(problems))
    return FileResult(path, info, tuple(problems), allowed)


def _unreadable(exc: BaseException) -> Problem:
    return findings.unreadable(str(exc))


def new_checks(options: ScanOptions) -> Tuple[WheelCheck, ...]:
    """The whole-wheel checks of one scan, fresh, made from the options' settings."""
    if options.symbols is None:
        return ()
    from .symbols import symbol_checks  # no ImportError guard: a broken check must not pass

    return symbol_checks(options.symbols)


@dataclass
class Collected:
    """A target read but not yet judged as a whole: its whole-wheel checks (the scan's
    own, made from the options, or given by the caller) have seen every file (collect)
    and wait for finish_scan, so that several targets can first be told about each
    other (symbols.offer_libraries: wheels checked together)."""

    target: str
    results: List[FileResult]
    options: ScanOptions
    checks: Tuple[WheelCheck, ...]
    errors: Sequence[str] = ()
    internal: List[str] = field(default_factory=list)


def finish_scan(collected: Collected) -> ScanReport:
    """Run the whole-wheel checks over what was collected; the target's ScanReport."""
    results, checks = collected.results, collected.checks
    internal = list(collected.internal)
    extra: Dict[str, List[Problem]] = {}
    for check in checks:
        try:
            found = check.finish()
        except Exception as exc:  # a bug in a whole-wheel check: no verdict from it
            internal.append(str(InternalError(collected.target, exc)))
            continue
        for path, probs in found.items():
            extra.setdefault(path, []).extend(probs)
    if extra:
        results = [
            FileResult(r.path, r.info, r.problems + tuple(extra.get(r.path, ())), r.allowed) if r.info else r
            for r in results
        ]
    unchecked = next((c.unchecked for c in checks if c.unchecked), None)
    return ScanReport(
        collected.target, tuple(results), tuple(collected.errors), tuple(internal),
        notes=tuple(str(n) for c in checks for n in c.notes),
        symbol_check=("not-checked" if unchecked else "checked") if checks else "off",
        symbol_reason=unchecked,
        libraries={path: tuple(found) for c in checks for path, found in c.libraries.items()},
    )


def scan_file(path: str, options: ScanOptions, relpath: Optional[str] = None,
              checks: Optional[Sequence[WheelCheck]] = None) -> FileResult:
    """One file judged alone; ``checks`` (default: new ones) collect it for a later finish."""
    try:
        with FileSource(path) as src:
            return _judge(relpath or path, src, options, new_checks(options) if checks is None else checks)
    except OSError as exc:
        return FileResult(relpath or path, None, (_unreadable(OSError(exc.strerror or str(exc))),))


def scan_paths(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions,
               checks: Optional[Tuple[WheelCheck, ...]] = None) -> ScanReport:
    """Scan (relative name, absolute path) pairs; non-ELF files are passed over.
    ``checks``: the whole-wheel checks to run (default: new ones from ``options``), given
    by a caller that reads their state afterwards (tests, benchmarks)."""
    return finish_scan(collect_paths(target, files, options, checks))


def collect_paths(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions,
                  checks: Optional[Tuple[WheelCheck, ...]] = None) -> Collected:
    return collect_elf_files(target, [(rel, path) for rel, path in files if is_elf_file(path)], options, checks)


def collect_elf_files(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions,
                      checks: Optional[Tuple[WheelCheck, ...]] = None) -> Collected:
    out = Collected(target, [], options, new_checks(options) if checks is None else checks)
    for rel, path in files:
        try:
            out.results.append(scan_file(path, options, rel, out.checks))
        except InternalError as exc:
            out.internal.append(str(exc))
    return out


def scan_elf_files(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions) -> ScanReport:
    """Scan pairs already known to be ELF files (by magic): no second look at each file."""
    return finish_scan(collect_elf_files(target, files, options))


def scan_tree(root: str, options: ScanOptions, checks: Optional[Tuple[WheelCheck, ...]] = None) -> ScanReport:
    return scan_paths(root, list(iter_tree_files(root)), options, checks)


@dataclass(frozen=True)
class DirSurvey:
    """What ``nolibpython check DIR`` finds under DIR: loose files (the tree), wheels (each
    its own target) and the virtual environments it did not walk into."""

    files: Tuple[Tuple[str, str], ...]
    wheels: Tuple[str, ...]
    venvs: Tuple[str, ...]


def survey_dir(root: str) -> DirSurvey:
    """Walk ``root`` for the CLI: ``.whl`` files apart, and no descent into a directory
    holding ``pyvenv.cfg`` (a virtual environment's interpreter is not the project's file;
    ``root`` itself is walked even when it is one: checking an environment is asked for)."""
    files: List[Tuple[str, str]] = []
    wheels: List[str] = []
    venvs: List[str] = []

    def is_venv(path: str) -> bool:
        if os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            venvs.append(path)
            return True
        return False

    for rel, path in iter_tree_files(root, is_venv):
        if rel.endswith(".whl"):
            wheels.append(path)
        else:
            files.append((rel, path))
    return DirSurvey(tuple(files), tuple(wheels), tuple(sorted(venvs)))


def scan_wheel(path: str, options: ScanOptions, zf: Optional[zipfile.ZipFile] = None,
               checks: Optional[Tuple[WheelCheck, ...]] = None) -> ScanReport:
    """Scan a wheel in place, streaming each member; nothing is extracted to disk.
    ``zf``: the wheel already open (the caller closes it); ``checks``: see scan_paths."""
    return finish_scan(collect_wheel(path, options, zf, checks))


def collect_wheel(path: str, options: ScanOptions, zf: Optional[zipfile.ZipFile] = None,
                  checks: Optional[Tuple[WheelCheck, ...]] = None) -> Collected:
    """Read a wheel in place, member by member, for finish_scan.

    Two stages: the container (wheelsafety.WheelContents: hostile names, links, bombs,
    RECORD; a small wheel's members verified one by one), then each member it hands on
    is judged if it is an ELF file. ``zf``: the wheel already open (the caller closes it).
    """
    out = Collected(path, [], options, new_checks(options) if checks is None else checks)
    if zf is None:
        try:
            opened = zipfile.ZipFile(path)
        except ZIP_ERRORS as exc:
            out.errors = (f"not a readable wheel (zip): {exc}",)
            return out
        with opened:
            return collect_wheel(path, options, opened, out.checks)
    contents = wheelsafety.WheelContents(zf)
    for member in contents.members():
        name = member.info.filename
        try:
            with member.open(zf) as src:
                if src.read(0, 4) == ELF_MAGIC:
                    out.results.append(_judge(name, src, options, out.checks))
        except InternalError as exc:
            out.internal.append(str(exc))
        except MEMBER_ERRORS as exc:  # opening or inflating the member: one line, never a traceback
            out.results.append(FileResult(name, None, (_unreadable(exc),)))
    out.errors = tuple(contents.problems)
    return out
