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
import functools
import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, TypeVar

from . import __version__
from .elf import ELF_MAGIC
from .errors import InternalError, RepairError, UsageError
from .globs import matches_any
from .logs import ROOT
from .policy import current_interpreter_libdirs, printable
from .pybuild import WheelTarget
from .report import check_document, problem_lines, summary
from .results import ScanOptions, ScanReport
from .scan import Collected, collect_paths, collect_wheel, finish_scan, survey_dir
from .wheeltags import wheel_target

if TYPE_CHECKING:
    from .symbols import Provided

__all__ = ["CHECK_SYMBOLS", "main"]

#: config.CHECK_SYMBOLS, spelled out here: importing config pulls in tomllib and pathlib,
#: a fifth of the CLI's start-up.
CHECK_SYMBOLS = ("error", "warn", "off")
_EXIT_OK = 0
_EXIT_FAIL = 1
_EXIT_USAGE = 2
_EXIT_INTERNAL = 3
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


def _size(job: Tuple["_Spec", object]) -> int:
    spec = job[0]
    try:
        return os.path.getsize(spec.path) if spec.kind != "directory" else 0
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


@dataclass
class _Checked:
    """One target (a PATH argument, or a wheel found under a directory), checked."""

    kind: str
    report: ScanReport
    notes: List[str]
    symbols: Dict[str, Optional[str]]
    warnings: List[str] = field(default_factory=list)
    libraries: Dict[str, List[Dict[str, Optional[str]]]] = field(default_factory=dict)


@dataclass
class _Target:
    kind: str
    path: str
    options: ScanOptions
    collected: Collected
    warnings: List[str]


def _options(args: argparse.Namespace, tags: WheelTarget, environment: bool = False) -> ScanOptions:
    from .symbols import symbol_checks  # no ImportError guard: a broken check must not pass

    return ScanOptions(
        allow=tuple(args.allow),
        interpreter_libdirs=current_interpreter_libdirs(),
        check_rpath=args.check_rpath,
        checks=symbol_checks(args.check_symbols, args.python, tags,
                             missing_libraries="error" if args.strict else "warn", environment=environment),
    )


def _is_environment(path: str) -> bool:
    """An installed environment (site-packages): a directory holding ``*.dist-info`` directories."""
    try:
        return any(n.endswith(".dist-info") and os.path.isdir(os.path.join(path, n)) for n in os.listdir(path))
    except OSError:
        return False


def _collect(path: str, kind: str, args: argparse.Namespace,
             files: Sequence[Tuple[str, str]] = ()) -> _Target:
    """Read one target; the whole-wheel checks wait until every target was read."""
    warnings: List[str] = []
    tags = WheelTarget()
    if kind == "wheel":
        tags, mismatch = wheel_target(path)
        if mismatch:
            warnings.append(mismatch)
    options = _options(args, tags, kind == "directory" and _is_environment(path))
    if kind == "directory":
        collected = collect_paths(path, files, options)
    elif kind == "elf":
        collected = collect_paths(path, [(path, path)], options)
    else:
        collected = collect_wheel(path, options)  # container problems (wheelsafety) come back as errors
    return _Target(kind, path, options, collected, warnings)


@dataclass(frozen=True)
class _Spec:
    """One target of the call, before it is read: a PATH argument, or a wheel found under a
    directory. ``optional``: a directory's own tree, kept only when it holds an ELF file
    (or the directory holds no wheel either: then it says "nothing to check")."""

    kind: str
    path: str
    files: Tuple[Tuple[str, str], ...] = ()
    optional: bool = False


def _expand(paths: Sequence[Tuple[str, str]]) -> Tuple[List[_Spec], List[str]]:
    """Every target of the call: a directory's tree and each wheel under it; the virtual
    environments not walked."""
    specs: List[_Spec] = []
    skipped: List[str] = []
    for path, kind in paths:
        if kind != "directory":
            specs.append(_Spec(kind, path))
            continue
        survey = survey_dir(path)
        skipped.extend(survey.venvs)
        specs.append(_Spec(kind, path, survey.files, optional=bool(survey.wheels)))
        specs.extend(_Spec("wheel", w) for w in survey.wheels)
    return specs, skipped


def _finish(target: _Target) -> _Checked:
    from .symbols import symbol_status

    report = finish_scan(target.collected)
    libraries: Dict[str, List[Dict[str, Optional[str]]]] = {}
    for check in target.options.checks:
        libraries.update(getattr(check, "libraries", {}))
    return _Checked(target.kind, report, list(target.options.notes()), symbol_status(target.options.checks),
                    target.warnings, libraries)


def _unused_allow(patterns: Sequence[str], results: Sequence[_Checked]) -> List[str]:
    """``--allow`` patterns that match no ELF file of any target: a typo, or a file that moved."""
    paths = [f.path for c in results for f in c.report.files]
    return [p for p in dict.fromkeys(patterns) if not any(matches_any(path, (p,)) for path in paths)]


@dataclass(frozen=True)
class _Outcome:
    """A target checked (in a worker process): its result, the libraries it offers the
    other targets, and the DT_NEEDED names of its files."""

    checked: _Checked
    provided: Tuple[Provided, ...]
    needed: FrozenSet[str]


def _check_spec(job: Tuple[_Spec, Tuple[Provided, ...]], args: argparse.Namespace) -> _Outcome:
    """Read, link (with the libraries the other targets offer) and judge one target."""
    from .symbols import offer_libraries, provided_libraries

    spec, offered = job
    target = _collect(spec.path, spec.kind, args, spec.files)
    offer_libraries(target.options.checks, offered)
    provided = provided_libraries(target.path, target.options.checks)
    checked = _finish(target)
    needed = frozenset(n for f in checked.report.files if f.info is not None for n in f.info.needed)
    return _Outcome(checked, provided, needed)


def _check_targets(specs: Sequence[_Spec], args: argparse.Namespace) -> List[_Checked]:
    """Every target judged as if checked together, in up to ``-j`` processes.

    Targets checked in one call satisfy each other's DT_NEEDED by name (symbols.offer_libraries),
    as a dependency's import does. Workers share nothing, so each target is first judged
    alone, then judged again with the others' libraries where they can change its verdict:
    one of its DT_NEEDED names is among them, or it has a library nothing provided (whose
    wording names the wheels checked with it). Every -j, 1 included, takes this one path,
    so the output never depends on it.
    """
    from .symbols import MISSING_LIBRARY

    jobs = args.jobs or _cpus()
    check = functools.partial(_check_spec, args=args)
    first = _map_targets(check, [(s, ()) for s in specs], jobs, _size)
    kept = [i for i, (s, o) in enumerate(zip(specs, first))
            if not (s.optional and not o.checked.report.files and not o.checked.report.internal_errors)]
    offered = {i: tuple(p for j in kept if j != i for p in first[j].provided) for i in kept}
    again = [i for i in kept if offered[i] and (
        first[i].needed & {p.name for p in offered[i]}
        or any(pr.code == MISSING_LIBRARY for f in first[i].checked.report.files for pr in f.problems))]
    second = _map_targets(check, [(specs[i], offered[i]) for i in again], jobs, _size)
    redone = dict(zip(again, second))
    return [(redone[i] if i in redone else first[i]).checked for i in kept]


def _run_check(args: argparse.Namespace) -> int:
    if args.env is not None:
        from .envcli import run_check_env

        return run_check_env(args)
    if not args.paths:
        raise UsageError("check needs a PATH (a wheel, a directory or an ELF file), or --env PYTHON")
    kinds = [(p, _path_kind(p)) for p in args.paths]  # every path is vetted before any work
    if args.python is not None and not os.path.isfile(args.python):
        raise UsageError(f"--python {args.python}: no such file")
    import logging

    logger = logging.getLogger(ROOT)
    if not logger.handlers:  # notes are printed below, never logged on top
        logger.addHandler(logging.NullHandler())
    specs, skipped = _expand(kinds)
    results = _check_targets(specs, args)
    reports = [(c.kind, c.report) for c in results]
    unused = _unused_allow(args.allow, results)
    status = _EXIT_FAIL if any(r.failed and not r.internal_errors for _, r in reports) else _EXIT_OK
    if any(r.internal_errors for _, r in reports):
        status = _EXIT_INTERNAL
    if args.json:
        doc = check_document(__version__, reports, status, [c.notes for c in results],
                             symbols=[c.symbols for c in results], warnings=[c.warnings for c in results],
                             libraries=[c.libraries for c in results], unused_allow=unused, skipped=skipped)
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for venv in skipped:
        print(printable(f"{venv}: skipped: a virtual environment (it holds pyvenv.cfg); name it to check it"))
    for pattern in unused:
        print(printable(f"warning: --allow {pattern} matches no ELF file in the targets checked"))
    for c in results:
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
        for note in c.notes:
            print(printable(f"{report.target}: note: {note}"), file=sys.stderr)
        print(summary(report, c.kind))
    return status


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
        return _EXIT_FAIL
    except Exception as exc:  # a bug: one line asking for a report, never a traceback or a verdict
        where = " ".join(getattr(args, "paths", None) or getattr(args, "wheels", None) or [])
        print(printable(f"nolibpython: {InternalError(where, exc)}"), file=sys.stderr)
        return _EXIT_INTERNAL
