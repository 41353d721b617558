"""``nolibpython check|repair``: verify and fix what is already built (wheels, trees, ELF files).

A thin shell over scan, report and wheelrepair. It never imports setuptools (start-up
time counts when a CI job checks many wheels) and reads wheels in place.

Exit status: 0 everything verified clean (or repaired), 1 a violation or a file that
could not be verified or repaired, 2 a usage error or a path of an unknown kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, List, Optional, Sequence, Tuple

from . import __version__
from .elf import ELF_MAGIC
from .policy import printable
from .report import check_document, file_line, summary
from .scan import ScanOptions, ScanReport, current_interpreter_libdirs, scan_paths, scan_tree, scan_wheel

#: config.CHECK_SYMBOLS, spelled out here: importing config pulls in tomllib and pathlib,
#: a fifth of the CLI's start-up.
CHECK_SYMBOLS = ("error", "warn", "off")
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments; ``str()`` is one line naming the argument."""


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
                       help="report files whose path (inside the wheel or tree) matches GLOB as allowed; repeatable")
    check.add_argument("--no-rpath", dest="check_rpath", action="store_false",
                       help="do not warn about RPATH/RUNPATH entries pointing at a Python lib dir")
    check.add_argument("--check-symbols", choices=CHECK_SYMBOLS, default="error",
                       help="undefined-symbol check severity (default: error)")
    check.add_argument("--python", metavar="PATH", default=None,
                       help="interpreter whose exported symbols the symbol check resolves against")

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


def path_kind(path: str) -> str:
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


def _symbol_checks(severity: str, interpreter: Optional[str], wheel_tags: Sequence[str]) -> Tuple[Any, ...]:
    """A fresh symbol check per target, when that module is installed and the check is on."""
    if severity == "off":
        return ()
    try:
        from .symbols import SymbolCheck  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return ()
    # A finished wheel's missing library is a load failure (a build leaves it to auditwheel).
    return (SymbolCheck(severity=severity, interpreter=interpreter, wheel_tags=wheel_tags, missing_libraries="error"),)


def _notes(options: ScanOptions) -> List[str]:
    """What the whole-wheel checks could not verify (said once, in the output, not the log)."""
    return [str(n) for c in options.checks for n in getattr(c, "notes", ())]


def check_one(path: str, kind: str, args: argparse.Namespace) -> Tuple[ScanReport, List[str]]:
    """The scan of one PATH and the notes of its whole-wheel checks."""
    tags = (os.path.basename(path),) if kind == "wheel" else ()
    options = ScanOptions(
        allow=tuple(args.allow),
        interpreter_libdirs=current_interpreter_libdirs(),
        check_rpath=args.check_rpath,
        checks=_symbol_checks(args.check_symbols, args.python, tags),
    )
    if kind == "directory":
        return scan_tree(path, options), _notes(options)
    if kind == "elf":
        return scan_paths(path, [(path, path)], options), _notes(options)
    report = scan_wheel(path, options)  # container problems (wheelsafety) come back as report.errors
    return report, _notes(options)


def run_check(args: argparse.Namespace) -> int:
    kinds = [(p, path_kind(p)) for p in args.paths]  # every path is vetted before any work
    if args.python is not None and not os.path.isfile(args.python):
        raise UsageError(f"--python {args.python}: no such file")
    import logging

    logger = logging.getLogger("setuptools_nolibpython")
    if not logger.handlers:  # the symbol check's notes are printed below, not logged twice
        logger.addHandler(logging.NullHandler())
    results = [(kind, *check_one(path, kind, args)) for path, kind in kinds]
    reports = [(kind, report) for kind, report, _ in results]
    status = EXIT_FAIL if any(r.failed for _, r in reports) else EXIT_OK
    if args.json:
        doc = check_document(reports, status, [notes for _, _, notes in results])
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for kind, report, notes in results:
        where = "" if kind == "elf" else report.target
        for err in report.errors:
            print(printable(f"{report.target}: error: {err}"))
        for f in report.files:
            line = file_line(f, where)
            if line:
                print(line)
        for note in notes:
            print(printable(f"{report.target}: note: {note}"), file=sys.stderr)
        print(summary(report))
    return status


def say(line: str) -> None:
    """Print a line that holds names from a wheel: escaped, so it stays one line."""
    print(printable(line))


def run_repair(args: argparse.Namespace) -> int:
    from .wheelrepair import RepairError, repair_wheel

    for w in args.wheels:
        if not os.path.isfile(w):
            raise UsageError(f"{w}: no such wheel file")
    status = EXIT_OK
    for w in args.wheels:
        try:
            result = repair_wheel(w, args.outdir, keep_rpath=args.keep_rpath, allow=args.allow,
                                  force_copy=args.force_copy)
        except RepairError as exc:
            print(printable(f"error: {exc}"), file=sys.stderr)
            status = EXIT_FAIL
            continue
        for member in result.allowed:
            say(f"{w}: {member}: allowed: keeps libpython (matches --allow)")
        for fix in result.fixes:
            for name in fix.removed_needed:
                say(f"{w}: {fix.path}: removed DT_NEEDED {name}")
            for entry in fix.removed_rpath:
                say(f"{w}: {fix.path}: removed RPATH/RUNPATH entry {entry} (a Python lib dir)")
        for member in result.dropped:
            say(f"{w}: {member}: dropped (the signature no longer matches the new RECORD)")
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
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("nolibpython: error: choose a command: check or repair", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run_check(args) if args.command == "check" else run_repair(args)
    except UsageError as exc:
        print(printable(f"nolibpython: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_FAIL
