"""``nolibpython check|repair``: verify and fix what is already built (wheels, trees, ELF files).

A thin shell over scan, report and wheelrepair. It never imports setuptools (start-up
time counts when a CI job checks many wheels) and reads wheels in place.

Exit status: 0 everything verified clean (or repaired), 1 a violation or a file that
could not be verified or repaired, 2 a usage error or a path of an unknown kind.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from . import __version__
from .elf import ELF_MAGIC
from .errors import RepairError, UsageError
from .logs import ROOT
from .policy import current_interpreter_libdirs, printable
from .report import check_document, problem_lines, summary
from .results import ScanOptions, ScanReport
from .scan import scan_paths, scan_tree, scan_wheel
from .wheeltags import wheel_target

__all__ = ["CHECK_SYMBOLS", "main"]

#: config.CHECK_SYMBOLS, spelled out here: importing config pulls in tomllib and pathlib,
#: a fifth of the CLI's start-up.
CHECK_SYMBOLS = ("error", "warn", "off")
_EXIT_OK = 0
_EXIT_FAIL = 1
_EXIT_USAGE = 2
_T = TypeVar("_T")
_R = TypeVar("_R")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nolibpython",
        description="Find and remove libpython in built wheels, directory trees and ELF files.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{check,repair}")

    check = sub.add_parser(
        "check",
        help="report ELF files that need libpython (exit 1 if any)",
        description="Check every ELF file in wheels (read in place), directory trees or single ELF files.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="a .whl file, a directory or an ELF file")
    check.add_argument("--json", action="store_true", help="print one JSON document (docs/check-json-schema.json)")
    check.add_argument("--allow", action="append", default=[], metavar="GLOB",
                       help="report files whose path (inside the wheel or tree) matches GLOB as allowed "
                       "(* stays within a path segment, ** spans segments); repeatable")
    check.add_argument("--no-rpath", dest="check_rpath", action="store_false",
                       help="do not warn about RPATH/RUNPATH entries pointing at a Python lib dir")
    check.add_argument("--check-symbols", choices=CHECK_SYMBOLS, default="error",
                       help="undefined-symbol check severity (default: error)")
    check.add_argument("--python", metavar="PATH", default=None,
                       help="interpreter whose exported symbols the symbol check resolves against")
    check.add_argument("-j", "--jobs", type=_jobs, default=0, metavar="N",
                       help="check up to N wheels or files at once, in N processes (default: the number of "
                       "CPUs); the output is the same whatever N")

    repair = sub.add_parser(
        "repair",
        help="write wheels with libpython removed",
        description="Write each WHEEL into OUTDIR under the same name with every libpython DT_NEEDED "
        "removed and RPATH/RUNPATH entries of Python lib dirs dropped. The input is never modified.",
    )
    repair.add_argument("wheels", nargs="+", metavar="WHEEL")
    repair.add_argument("-w", "--wheel-dir", dest="outdir", required=True, metavar="OUTDIR",
                        help="directory for the repaired wheels (created if missing)")
    repair.add_argument("--keep-rpath", action="store_true", help="leave RPATH/RUNPATH entries alone")
    repair.add_argument("--allow", action="append", default=[], metavar="GLOB",
                        help="members matching GLOB keep their libpython; repeatable")
    repair.add_argument("--force-copy", action="store_true",
                        help="write a byte-identical copy of a wheel that needs no repair")
    return parser


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, 1 or more, not {text!r}")
    return value


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _map_targets(
    fn: Callable[[_T], _R], items: Sequence[_T], jobs: int, weight: Callable[[_T], int] = lambda _: 0
) -> List[_R]:
    """``fn`` over ``items`` in up to ``jobs`` worker processes, results in input order.

    The heaviest items (``weight``, e.g. a file's size) start first, so that the last
    one to finish is a small one; each worker takes one item at a time, so its peak
    memory is one item's (a wheel is streamed). Forked workers start with this process's
    imports and keep their caches (the interpreter's symbols) from one item to the next.
    """
    jobs = min(jobs, len(items))
    if jobs <= 1:
        return [fn(item) for item in items]
    import multiprocessing

    order = sorted(range(len(items)), key=lambda i: -weight(items[i]))
    slots: List[Optional[_R]] = [None] * len(items)
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for i, result in pool.imap_unordered(functools.partial(_indexed, fn), [(i, items[i]) for i in order]):
            slots[i] = result
    return slots  # type: ignore[return-value]  # every slot is filled


def _indexed(fn: Callable[[_T], _R], job: Tuple[int, _T]) -> Tuple[int, _R]:
    return job[0], fn(job[1])


def _size(target: Tuple[str, str]) -> int:
    try:
        return os.path.getsize(target[0]) if target[1] != "directory" else 0
    except OSError:
        return 0


def _path_kind(path: str) -> str:
    """'wheel', 'directory' or 'elf'; UsageError (one line naming the path) otherwise."""
    if os.path.isdir(path):
        return "directory"
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or directory")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: not a regular file, directory or wheel")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head == ELF_MAGIC:
        return "elf"
    if path.endswith(".whl"):
        return "wheel"
    raise UsageError(f"{path}: not a wheel (.whl), a directory or an ELF file; nothing to check")


def _notes(options: ScanOptions) -> List[str]:
    """What the whole-wheel checks could not verify (said once, in the output, not the log)."""
    return [str(n) for c in options.checks for n in getattr(c, "notes", ())]


@dataclass
class _Checked:
    """One PATH argument, checked: the scan, what could not be verified, findings about its name."""

    kind: str
    report: ScanReport
    notes: List[str]
    symbols: Dict[str, Optional[str]]
    warnings: List[str] = field(default_factory=list)


def _check_one(path: str, kind: str, args: argparse.Namespace) -> _Checked:
    """The scan of one PATH and the notes of its whole-wheel checks."""
    from .symbols import symbol_checks, symbol_status  # no ImportError guard: a broken check must not pass

    warnings: List[str] = []
    tags: Tuple[str, ...] = ()
    if kind == "wheel":
        tags, mismatch = wheel_target(path)
        if mismatch:
            warnings.append(mismatch)
    options = ScanOptions(
        allow=tuple(args.allow),
        interpreter_libdirs=current_interpreter_libdirs(),
        check_rpath=args.check_rpath,
        checks=symbol_checks(args.check_symbols, args.python, tags, missing_libraries="error"),
    )
    if kind == "directory":
        report = scan_tree(path, options)
    elif kind == "elf":
        report = scan_paths(path, [(path, path)], options)
    else:
        report = scan_wheel(path, options)  # container problems (wheelsafety) come back as report.errors
    return _Checked(kind, report, _notes(options), symbol_status(options.checks), warnings)


def _check_target(target: Tuple[str, str], args: argparse.Namespace) -> _Checked:
    return _check_one(target[0], target[1], args)


def _run_check(args: argparse.Namespace) -> int:
    kinds = [(p, _path_kind(p)) for p in args.paths]  # every path is vetted before any work
    if args.python is not None and not os.path.isfile(args.python):
        raise UsageError(f"--python {args.python}: no such file")
    import logging

    logger = logging.getLogger(ROOT)
    if not logger.handlers:  # the symbol check's notes are printed below, not logged twice
        logger.addHandler(logging.NullHandler())
    results = _map_targets(functools.partial(_check_target, args=args), kinds, args.jobs or _cpus(), _size)
    reports = [(c.kind, c.report) for c in results]
    status = _EXIT_FAIL if any(r.failed for _, r in reports) else _EXIT_OK
    if args.json:
        doc = check_document(__version__, reports, status, [c.notes for c in results],
                             symbols=[c.symbols for c in results], warnings=[c.warnings for c in results])
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for c in results:
        report = c.report
        where = "" if c.kind == "elf" else report.target
        for err in report.errors:
            print(printable(f"{report.target}: error: {err}"))
        for warning in c.warnings:
            print(printable(f"{report.target}: warning: {warning}"))
        for f in report.files:
            for line in problem_lines(f, where):
                print(line)
        for note in c.notes:
            print(printable(f"{report.target}: note: {note}"), file=sys.stderr)
        print(summary(report))
    return status


def _say(line: str) -> None:
    """Print a line that holds names from a wheel: escaped, so it stays one line."""
    print(printable(line))


def _run_repair(args: argparse.Namespace) -> int:
    from .wheelrepair import repair_wheel

    for w in args.wheels:
        if not os.path.isfile(w):
            raise UsageError(f"{w}: no such wheel file")
    status = _EXIT_OK
    for w in args.wheels:
        try:
            result = repair_wheel(w, args.outdir, keep_rpath=args.keep_rpath, allow=args.allow,
                                  force_copy=args.force_copy)
        except RepairError as exc:
            print(printable(f"error: {exc}"), file=sys.stderr)
            status = _EXIT_FAIL
            continue
        for member in result.allowed:
            _say(f"{w}: {member}: allowed: keeps libpython (matches --allow)")
        for member in result.programs:
            _say(f"{w}: {member}: left as it is: a program that embeds Python through libpython, not an "
                "extension module; removing the entry would make it fail at start-up")
        for fix in result.fixes:
            for name in fix.removed_needed:
                _say(f"{w}: {fix.path}: removed DT_NEEDED {name}")
            for entry in fix.removed_rpath:
                _say(f"{w}: {fix.path}: removed RPATH/RUNPATH entry {entry} (a Python lib dir)")
        for member in result.dropped:
            _say(f"{w}: {member}: dropped (the signature no longer matches the new RECORD)")
        if result.changed:
            print(f"{w}: repaired {len(result.fixes)} file(s); wrote {result.output}")
        elif result.output:
            print(f"{w}: nothing to repair; copied unchanged to {result.output}")
        else:
            print(f"{w}: nothing to repair (no ELF file needs a change); no file written")
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error
        return exc.code if isinstance(exc.code, int) else _EXIT_USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("nolibpython: error: choose a command: check or repair", file=sys.stderr)
        return _EXIT_USAGE
    try:
        return _run_check(args) if args.command == "check" else _run_repair(args)
    except UsageError as exc:
        print(printable(f"nolibpython: error: {exc}"), file=sys.stderr)
        return _EXIT_USAGE
    except BrokenPipeError:
        return _EXIT_FAIL
