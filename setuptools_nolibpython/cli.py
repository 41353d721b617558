"""``nolibpython check|repair``: verify and fix what is already built (wheels, trees, ELF files).

A thin shell over scan, report and wheelrepair. It never imports setuptools (start-up
time counts when a CI job checks many wheels) and reads wheels in place.

Exit status: 0 everything verified clean (or repaired; warnings and notes do not fail),
1 a violation or a file that could not be verified or repaired, 2 a usage error or a
path of an unknown kind, 3 an internal error (a bug here kept a file from being judged:
one line naming it, asking for a bug report; never a verdict on the file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from . import __version__
from .checking import CHECK_SYMBOLS, EXIT_FAIL, EXIT_INTERNAL, EXIT_OK, CheckSettings, check
from .errors import InternalError, RepairError, UsageError
from .logs import ROOT
from .policy import printable
from .report import problem_lines, summary

__all__ = ["CHECK_SYMBOLS", "main"]

_EXIT_USAGE = 2


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
        description="Check every ELF file in wheels (read in place), directory trees or single ELF files. "
        "Targets given together are checked together: a library one wheel ships satisfies another's "
        "DT_NEEDED, as it does once that package is imported. Exit status: 0 clean (warnings only), "
        "1 a violation or an unreadable file, 2 a usage error, 3 an internal error (please report it).",
    )
    check.add_argument("paths", nargs="*", metavar="PATH",
                       help="a .whl file, a directory (its tree, and every .whl under it as its own target) "
                       "or an ELF file")
    check.add_argument("--env", metavar="PYTHON", default=None,
                       help="check every ELF file installed in PYTHON's environment, judged against PYTHON")
    check.add_argument("--strict", action="store_true",
                       help="make a library that nothing checked here provides an error, not a warning "
                       "(auditwheel-style completeness)")
    check.add_argument("--json", action="store_true", help="print one JSON document (docs/check-json-schema.json)")
    check.add_argument("--allow", action="append", default=[], metavar="GLOB",
                       help="files whose path (inside the wheel or tree) matches GLOB may link libpython "
                       "(they embed Python on purpose); every other finding on them stays "
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
    repair.add_argument("wheels", nargs="*", metavar="WHEEL", help="a wheel; with --env, a distribution NAME")
    repair.add_argument("-w", "--wheel-dir", dest="outdir", metavar="OUTDIR",
                        help="directory for the repaired wheels (created if missing)")
    repair.add_argument("--env", metavar="PYTHON", default=None,
                        help="repair the installed distributions of PYTHON's environment in place (all, or "
                        "those NAMEd), with their RECORD")
    repair.add_argument("--dry-run", action="store_true", help="with --env: print the plan, write nothing")
    repair.add_argument("--force", action="store_true",
                        help="with --env: repair files that no longer match their RECORD hash")
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


def _run_check(args: argparse.Namespace) -> int:
    settings = CheckSettings(
        allow=tuple(args.allow),
        strict=args.strict,
        check_rpath=args.check_rpath,
        check_symbols=args.check_symbols,
        python=args.python,
        jobs=args.jobs,
    )
    if args.env is not None:
        from .envcli import run_check_env

        return run_check_env(args, settings)
    if not args.paths:
        raise UsageError("check needs a PATH (a wheel, a directory or an ELF file), or --env PYTHON")
    import logging

    logger = logging.getLogger(ROOT)
    if not logger.handlers:  # notes are printed below, never logged on top
        logger.addHandler(logging.NullHandler())
    result = check(args.paths, settings)
    if args.json:
        json.dump(result.document(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return result.status
    for venv in result.skipped:
        print(printable(f"{venv}: skipped: a virtual environment (it holds pyvenv.cfg); name it to check it"))
    for pattern in result.unused_allow:
        print(printable(f"warning: --allow {pattern} matches no ELF file in the targets checked"))
    for c in result.targets:
        report = c.report
        where = "" if c.kind == "elf" else report.target
        for err in report.errors:
            print(printable(f"{report.target}: error: {err}"))
        for line in report.internal_errors:
            print(printable(f"{report.target}: {line}" if c.kind != "elf" else line), file=sys.stderr)
        for warning in c.warnings:
            print(printable(f"{report.target}: warning: {warning}"))
        for f in report.files:
            for line in problem_lines(f, where):
                print(line)
        for note in report.notes:
            print(printable(f"{report.target}: note: {note}"), file=sys.stderr)
        print(summary(report, c.kind))
    return result.status


def _say(line: str) -> None:
    """Print a line that holds names from a wheel: escaped, so it stays one line."""
    print(printable(line))


def _run_repair(args: argparse.Namespace) -> int:
    from .elfpatch import KEPT_ALLOWED, KEPT_PROGRAM, KEPT_REASONS
    from .wheelrepair import repair_wheel

    if args.env is not None:
        from .envcli import run_repair_env

        return run_repair_env(args)
    if not args.wheels or args.outdir is None or args.dry_run or args.force:
        raise UsageError("repair needs WHEEL... and -w OUTDIR, or --env PYTHON [NAME ...] "
                         "(--dry-run and --force go with --env)")
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
            _say(f"{w}: {member}: {KEPT_REASONS[KEPT_ALLOWED]}")
        for member in result.programs:
            _say(f"{w}: {member}: {KEPT_REASONS[KEPT_PROGRAM]}")
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
        return EXIT_FAIL
    except Exception as exc:  # a bug: one line asking for a report, never a traceback or a verdict
        where = " ".join(getattr(args, "paths", None) or getattr(args, "wheels", None) or [])
        print(printable(f"nolibpython: {InternalError(where, exc)}"), file=sys.stderr)
        return EXIT_INTERNAL
