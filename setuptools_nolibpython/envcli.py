"""``nolibpython check --env PYTHON`` and ``repair --env PYTHON [NAME ...]``: the CLI's shell
over an installed environment (installed, envrepair), kept apart from cli.py's wheel paths.

The environment is what PYTHON imports from, as PYTHON itself reports it (interpreter's
probe); every file is judged against PYTHON's own global scope. Findings are grouped by
distribution; files no RECORD lists are reported as such, and never edited.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import Dict, List, Optional, Tuple

from . import __version__
from .checking import CheckSettings, exit_status, scan_options
from .elf import read_elf
from .elfpatch import KEPT_REASONS
from .envrepair import DistributionRepair, repair_environment, select
from .errors import ElfReadError, RepairError, SourceError, UsageError
from .installed import Distribution, Environment, InstalledFile, read_environment, scan_environment
from .interpreter import interpreter_facts
from .policy import NEEDS_LIBPYTHON, PYTHON_RPATH, current_interpreter_libdirs, libpython_needed, printable
from .report import check_document, problem_lines, summary
from .results import FileResult, Problem, ScanReport
from .sources import FileSource

__all__ = ["run_check_env", "run_repair_env"]

_UNCLAIMED = "no RECORD"


def _environment(python: str) -> Environment:
    """PYTHON's environment; UsageError (one line) when PYTHON cannot be asked."""
    if not os.path.isfile(python):
        raise UsageError(f"--env {python}: no such file")
    facts = interpreter_facts(python)
    if facts is None:
        raise UsageError(f"--env {python}: cannot be run as a Python interpreter to ask where it imports from")
    return read_environment(python, facts.site_dirs)


def _fix(problem: Problem, file: InstalledFile, python: str) -> Problem:
    """An installed file is fixed in place (or through its owner), not by repairing a wheel."""
    if problem.code not in (NEEDS_LIBPYTHON, PYTHON_RPATH):
        return problem
    dist = file.distribution
    if dist is None:
        how = ("no installed distribution's RECORD lists this file, so 'nolibpython repair --env' leaves it "
               "alone: reinstall the package it belongs to from a wheel built without libpython")
    else:
        how = (f"run 'nolibpython repair --env {python} {dist.name}' (rewrites the installed file and its "
               f"RECORD), or install a wheel of {dist.name} built without libpython")
    if problem.code == PYTHON_RPATH:
        how = "it only served libpython and leaks the build machine's paths: " + how
    return replace(problem, fix=printable(how))


def _grouped(env: Environment, report: ScanReport) -> List[Tuple[Optional[Distribution], List[FileResult]]]:
    """Results by distribution (as read), then those no RECORD claims; fix texts for installed files."""
    owner = {f.path: f for f in env.files}
    groups: Dict[Optional[str], List[FileResult]] = {}
    for r in report.files:
        f = owner[r.path]
        r = replace(r, problems=tuple(_fix(p, f, env.interpreter) for p in r.problems))
        groups.setdefault(f.distribution.dist_info if f.distribution else None, []).append(r)
    out: List[Tuple[Optional[Distribution], List[FileResult]]] = [
        (d, groups[d.dist_info]) for d in env.distributions if d.dist_info in groups
    ]
    if None in groups:
        out.append((None, groups[None]))
    return out


def _distribution_doc(dist: Optional[Distribution]) -> Optional[Dict[str, str]]:
    return None if dist is None else {"name": dist.name, "version": dist.version, "dist_info": dist.dist_info}


def run_check_env(args: argparse.Namespace, settings: CheckSettings) -> int:
    """``check --env``: the exit statuses of ``check`` (0 clean, 1 a violation or an unreadable
    file, 3 an internal error). The packages of one environment load together, so a library
    one ships satisfies another's DT_NEEDED (SymbolCheck.environment)."""
    if args.paths:
        raise UsageError("--env checks an interpreter's environment; give no PATH with it")
    if args.python is not None:
        raise UsageError("--env PYTHON is also the interpreter the symbols are checked against; drop --python")
    env = _environment(args.env)
    options = scan_options(replace(settings, python=args.env), environment=True)
    report = scan_environment(env, options)
    groups = _grouped(env, report)
    report = replace(report, files=tuple(r for _d, rs in groups for r in rs))
    status = exit_status([report])
    warnings = [f"{d.dist_info}: {d.record_problem}" for d in env.distributions if d.record_problem]
    n = len(env.distributions)
    label = f"the environment of {env.interpreter} ({n} distribution{'' if n == 1 else 's'} in " \
            f"{', '.join(env.site_dirs) or 'no site directory'})"
    if args.json:
        doc = check_document(__version__, [("environment", replace(report, target=env.interpreter))], status,
                             warnings=[warnings])
        dists = {r.path: d for d, rs in groups for r in rs}
        target = doc["targets"][0]
        target["site_dirs"] = list(env.site_dirs)
        for f in target["files"]:
            f["distribution"] = _distribution_doc(dists[f["path"]])
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for w in warnings:
        print(printable(f"{env.interpreter}: warning: {w}"))
    for line in report.internal_errors:
        print(printable(line), file=sys.stderr)
    for dist, results in groups:
        where = dist.label if dist else _UNCLAIMED
        for r in results:
            for line in problem_lines(r, where):
                print(line)
        if dist is None:
            print(summary(ScanReport("files no RECORD lists (installed without pip, or by hand; "
                                     "repair --env leaves them alone)", tuple(results))))
        else:
            print(summary(ScanReport(f"{dist.label} ({dist.dist_info})", tuple(results))))
    for note in report.notes:
        print(printable(f"{env.interpreter}: note: {note}"), file=sys.stderr)
    print(summary(replace(report, target=label)))
    return status


def _say(line: str, err: bool = False) -> None:
    print(printable(line), file=sys.stderr if err else sys.stdout)


def _unclaimed_violations(env: Environment) -> List[InstalledFile]:
    """Files no RECORD lists that link libpython: repair cannot keep their hash true, so says so."""
    out = []
    for f in env.files:
        if f.distribution is None:
            try:
                with FileSource(f.path) as src:
                    if libpython_needed(read_elf(src)):
                        out.append(f)
            except (OSError, ElfReadError, SourceError):
                continue
    return out


def _report_repair(r: DistributionRepair, dry_run: bool) -> None:
    label = r.distribution.label
    for line in r.refused:
        _say(f"{label}: {line}", err=True)
    for f, why in r.kept:
        _say(f"{label}: {f.path}: {KEPT_REASONS[why]}")
    if r.reconciled:
        verb = "would finish" if dry_run else "finished"
        _say(f"{label}: {verb} an interrupted repair: {r.reconciled} file(s) it had rewritten "
             f"{'would be' if dry_run else 'are now'} in RECORD")
    would = "would remove" if dry_run else "removed"
    for x in r.fixes:
        for name in x.removed_needed:
            _say(f"{label}: {x.path}: {would} DT_NEEDED {name}")
        for entry in x.removed_rpath:
            _say(f"{label}: {x.path}: {would} RPATH/RUNPATH entry {entry} (a Python lib dir)")
    if r.refused:
        return
    if r.written:
        _say(f"{label}: repaired {len(r.fixes)} file(s); RECORD updated ({r.distribution.record})")
    elif r.fixes and dry_run:
        _say(f"{label}: would repair {len(r.fixes)} file(s) and update RECORD; nothing written (--dry-run)")
    elif not r.fixes and not r.reconciled:
        _say(f"{label}: nothing to repair")


def run_repair_env(args: argparse.Namespace) -> int:
    """``repair --env``: exit 0 when everything that needed it was repaired (programs and
    ``--allow`` matches keep their libpython on purpose), 1 when a file was refused or left."""
    if args.outdir is not None or args.force_copy:
        raise UsageError("--env repairs the installed files in place; drop -w/--force-copy")
    env = _environment(args.env)
    try:
        dists = select(env, args.wheels)
    except RepairError as exc:
        raise UsageError(str(exc)) from None
    try:
        results = repair_environment(env, dists, libdirs=current_interpreter_libdirs(), allow=args.allow,
                                     keep_rpath=args.keep_rpath, force=args.force, dry_run=args.dry_run)
    except RepairError as exc:
        _say(f"error: {exc}", err=True)
        return 1
    status = 0
    for r in results:
        _report_repair(r, args.dry_run)
        status = 1 if r.refused else status
    if not args.wheels:
        for f in _unclaimed_violations(env):
            _say(f"{f.path}: not repaired: it links libpython, but no installed distribution's RECORD lists it, "
                 "so its hash can be neither verified nor kept true; reinstall the package it belongs to from a "
                 "wheel built without libpython", err=True)
            status = 1
    changed = sum(len(r.fixes) for r in results if r.written)
    if args.dry_run:
        _say(f"--dry-run: {sum(len(r.fixes) for r in results)} file(s) would be repaired in the environment of "
             f"{env.interpreter}; nothing written")
    elif changed or any(r.reconciled for r in results):
        written = sum(1 for r in results if r.written)
        parts = [f"repaired {changed} file(s) of {written} distribution(s)"] if changed else []
        finished = sum(1 for r in results if r.reconciled and not r.refused)
        parts += [f"finished {finished} interrupted repair(s)"] if finished else []
        _say(f"{'; '.join(parts)} in the environment of {env.interpreter}")
    else:
        _say(f"nothing written in the environment of {env.interpreter}")
    return status
