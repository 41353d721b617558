"""Find every ELF file in a tree or a wheel, read it, and collect verdicts.

The plugin (a build tree before the wheel is zipped) and the CLI (a wheel, a tree, a
single file) share this code. ELF files are found by their magic, not their names.
Whole-wheel checks (symbol resolution needs every bundled library) plug in through
results.WheelCheck.
"""

from __future__ import annotations

import os
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

from . import policy, wheelsafety
from .elf import ELF_MAGIC, read_elf
from .errors import MEMBER_ERRORS, ZIP_ERRORS, ElfReadError
from .policy import dir_has_libpython, is_allowed
from .results import ERROR, FileResult, Problem, ScanOptions, ScanReport
from .sources import ByteSource, FileSource, is_elf_file, iter_tree_files

__all__ = ["is_elf_file", "iter_tree_files", "scan_elf_files", "scan_file", "scan_paths", "scan_tree", "scan_wheel"]


def _judge(path: str, src: ByteSource, options: ScanOptions) -> FileResult:
    if options.view is not None:
        src = options.view(path, src)
    try:
        info = read_elf(src)
    except ElfReadError as exc:
        return FileResult(path, None, (_unreadable(exc),))
    problems: List[Problem] = policy.libpython_problems(info)
    if options.check_rpath:
        drop = policy.removable_rpath_entries(
            info, options.interpreter_libdirs, dir_has_libpython, os.path.exists
        )
        problems += policy.rpath_problems(info, drop)
    for check in options.checks:
        try:
            check.collect(path, src, info)
        except ElfReadError as exc:
            problems.append(_unreadable(exc))
            return FileResult(path, None, tuple(problems))
    return FileResult(path, info, tuple(problems), is_allowed(path, options.allow))


def _unreadable(exc: BaseException) -> Problem:
    return Problem(
        policy.UNREADABLE,
        ERROR,
        f"cannot be read as ELF: {exc}",
        "rebuild the file or remove it from the package; a file that cannot be verified is not shipped",
    )


def _finish(target: str, results: List[FileResult], options: ScanOptions, errors: Sequence[str] = ()) -> ScanReport:
    extra: Dict[str, List[Problem]] = {}
    for check in options.checks:
        for path, probs in check.finish().items():
            extra.setdefault(path, []).extend(probs)
    if extra:
        results = [
            FileResult(r.path, r.info, r.problems + tuple(extra.get(r.path, ())), r.allowed) if r.info else r
            for r in results
        ]
    return ScanReport(target, tuple(results), tuple(errors))


def scan_file(path: str, options: ScanOptions, relpath: Optional[str] = None) -> FileResult:
    try:
        with FileSource(path) as src:
            return _judge(relpath or path, src, options)
    except OSError as exc:
        return FileResult(relpath or path, None, (_unreadable(OSError(exc.strerror or str(exc))),))


def scan_paths(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions) -> ScanReport:
    """Scan (relative name, absolute path) pairs; non-ELF files are passed over."""
    return scan_elf_files(target, [(rel, path) for rel, path in files if is_elf_file(path)], options)


def scan_elf_files(target: str, files: Sequence[Tuple[str, str]], options: ScanOptions) -> ScanReport:
    """Scan pairs already known to be ELF files (by magic): no second look at each file."""
    return _finish(target, [scan_file(path, options, rel) for rel, path in files], options)


def scan_tree(root: str, options: ScanOptions) -> ScanReport:
    return scan_paths(root, list(iter_tree_files(root)), options)


def scan_wheel(path: str, options: ScanOptions, zf: Optional[zipfile.ZipFile] = None) -> ScanReport:
    """Scan a wheel in place, streaming each member; nothing is extracted to disk.

    Two stages: the container (wheelsafety.WheelContents: hostile names, links, bombs,
    RECORD; a small wheel's members verified one by one), then each member it hands on
    is judged if it is an ELF file. ``zf``: the wheel already open (the caller closes it).
    """
    if zf is None:
        try:
            opened = zipfile.ZipFile(path)
        except ZIP_ERRORS as exc:
            return ScanReport(path, (), (f"not a readable wheel (zip): {exc}",))
        with opened:
            return scan_wheel(path, options, opened)
    results: List[FileResult] = []
    contents = wheelsafety.WheelContents(zf)
    for member in contents.members():
        name = member.info.filename
        try:
            with member.open(zf) as src:
                if src.read(0, 4) == ELF_MAGIC:
                    results.append(_judge(name, src, options))
        except MEMBER_ERRORS as exc:  # one line per member, never a traceback
            results.append(FileResult(name, None, (_unreadable(exc),)))
    return _finish(path, results, options, contents.problems)
