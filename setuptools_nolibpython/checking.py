"""``check``'s core: every target of a call read, linked together and judged, as one result.

The CLI (``nolibpython check``) and the Python API (``setuptools_nolibpython.check``) both
call :func:`check`; the CLI only parses arguments and renders the :class:`CheckResult`
as text or, through :meth:`CheckResult.document`, as the ``--json`` document.

Targets checked in one call satisfy each other's DT_NEEDED by name, as a dependency's
import does (symbols.offer_libraries); see :func:`_check_targets`.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, TypeVar

from .elf import ELF_MAGIC
from .errors import UsageError
from .globs import matches_any
from .policy import current_interpreter_libdirs
from .pybuild import WheelTarget
from .results import ScanOptions, ScanReport, SymbolSettings
from .scan import Collected, collect_paths, collect_wheel, finish_scan, survey_dir
from .wheeltags import wheel_target

if TYPE_CHECKING:
    from .symbols import Provided

__all__ = ["EXIT_FAIL", "EXIT_INTERNAL", "EXIT_OK", "CheckResult", "CheckSettings", "TargetResult", "check",
           "exit_status", "path_kind", "scan_options"]

#: Exit statuses of a check (the CLI adds 2, a usage error).
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_INTERNAL = 3
#: config.CHECK_SYMBOLS, spelled out here: importing config pulls in tomllib and pathlib,
#: a fifth of the CLI's start-up.
CHECK_SYMBOLS = ("error", "warn", "off")
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class CheckSettings:
    """What ``nolibpython check`` is told, as settings only (the CLI's options, same defaults).

    ``allow``: globs of files that may link libpython (they embed Python on purpose);
    ``strict``: a library nothing checked provides is an error, not a warning;
    ``check_rpath``: warn about RPATH/RUNPATH entries of a Python lib dir;
    ``check_symbols``: "error", "warn" or "off"; ``python``: the interpreter whose
    exported symbols the symbol check resolves against (default: this one);
    ``jobs``: worker processes, 0 for one per CPU (the result is the same whatever it is).
    """

    allow: Tuple[str, ...] = ()
    strict: bool = False
    check_rpath: bool = True
    check_symbols: str = "error"
    python: Optional[str] = None
    jobs: int = 0

    def __post_init__(self) -> None:
        # One glob given as a string, or a list of globs: the tuple of globs meant.
        allow = (self.allow,) if isinstance(self.allow, str) else tuple(self.allow)
        object.__setattr__(self, "allow", allow)


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


@dataclass(frozen=True)
class TargetResult:
    """One target (a PATH argument, or a wheel found under a directory), checked: its
    ``kind`` ("wheel", "directory", "elf"), its ScanReport (findings, notes, symbol check,
    where each library was found), and findings about the target itself that do not
    fail it (``warnings``: a wheel whose name and WHEEL tags disagree)."""

    kind: str
    report: ScanReport
    warnings: Tuple[str, ...] = ()


@dataclass
class _Target:
    kind: str
    path: str
    collected: Collected
    warnings: List[str]


def scan_options(settings: CheckSettings, tags: Optional[WheelTarget] = None, environment: bool = False) -> ScanOptions:
    """The scan's options for one target: ``settings``, the wheel's target (``tags``), and
    whether the target is an installed environment (its packages load together)."""
    return ScanOptions(
        allow=settings.allow,
        interpreter_libdirs=current_interpreter_libdirs(),
        check_rpath=settings.check_rpath,
        symbols=SymbolSettings.unless_off(settings.check_symbols, settings.python, tags or WheelTarget(),
                                          missing_libraries="error" if settings.strict else "warn",
                                          environment=environment),
    )


def _is_environment(path: str) -> bool:
    """An installed environment (site-packages): a directory holding ``*.dist-info`` directories."""
    try:
        return any(n.endswith(".dist-info") and os.path.isdir(os.path.join(path, n)) for n in os.listdir(path))
    except OSError:
        return False


def _collect(path: str, kind: str, settings: CheckSettings,
             files: Sequence[Tuple[str, str]] = ()) -> _Target:
    """Read one target; the whole-wheel checks wait until every target was read."""
    warnings: List[str] = []
    tags = WheelTarget()
    if kind == "wheel":
        tags, mismatch = wheel_target(path)
        if mismatch:
            warnings.append(mismatch)
    options = scan_options(settings, tags, kind == "directory" and _is_environment(path))
    if kind == "directory":
        collected = collect_paths(path, files, options)
    elif kind == "elf":
        collected = collect_paths(path, [(path, path)], options)
    else:
        collected = collect_wheel(path, options)  # container problems (wheelsafety) come back as errors
    return _Target(kind, path, collected, warnings)


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


def _finish(target: _Target) -> TargetResult:
    return TargetResult(target.kind, finish_scan(target.collected), tuple(target.warnings))


def _unused_allow(patterns: Sequence[str], results: Sequence[TargetResult]) -> List[str]:
    """``--allow`` patterns that match no ELF file of any target: a typo, or a file that moved."""
    paths = [f.path for c in results for f in c.report.files]
    return [p for p in dict.fromkeys(patterns) if not any(matches_any(path, (p,)) for path in paths)]


@dataclass(frozen=True)
class _Outcome:
    """A target checked (in a worker process): its result, the libraries it offers the
    other targets, and the DT_NEEDED names of its files."""

    checked: TargetResult
    provided: Tuple[Provided, ...]
    needed: FrozenSet[str]


def _check_spec(job: Tuple[_Spec, Tuple[Provided, ...]], settings: CheckSettings) -> _Outcome:
    """Read, link (with the libraries the other targets offer) and judge one target."""
    from .symbols import offer_libraries, provided_libraries

    spec, offered = job
    target = _collect(spec.path, spec.kind, settings, spec.files)
    offer_libraries(target.collected.checks, offered)
    provided = provided_libraries(target.path, target.collected.checks)
    checked = _finish(target)
    needed = frozenset(n for f in checked.report.files if f.info is not None for n in f.info.needed)
    return _Outcome(checked, provided, needed)


def _check_targets(specs: Sequence[_Spec], settings: CheckSettings) -> List[TargetResult]:
    """Every target judged as if checked together, in up to ``-j`` processes.

    Targets checked in one call satisfy each other's DT_NEEDED by name (symbols.offer_libraries),
    as a dependency's import does. Workers share nothing, so each target is first judged
    alone, then judged again with the others' libraries where they can change its verdict:
    one of its DT_NEEDED names is among them, or it has a library nothing provided (whose
    wording names the wheels checked with it). Every -j, 1 included, takes this one path,
    so the output never depends on it.
    """
    from .symbols import MISSING_LIBRARY

    jobs = settings.jobs or _cpus()
    check = functools.partial(_check_spec, settings=settings)
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


@dataclass(frozen=True)
class CheckResult:
    """One ``check`` call, judged: each target's result, the virtual environments a
    directory held and that were not walked (``skipped``), the ``allow`` globs that matched
    no file (``unused_allow``), and the exit status (EXIT_OK, EXIT_FAIL, EXIT_INTERNAL)."""

    targets: Tuple[TargetResult, ...]
    skipped: Tuple[str, ...]
    unused_allow: Tuple[str, ...]
    status: int

    @property
    def ok(self) -> bool:
        return self.status == EXIT_OK

    def document(self) -> Dict[str, Any]:
        """The ``--json`` document (docs/check-json-schema.json)."""
        from .report import check_document

        # The package's __version__: the package is loaded before any of its modules, and
        # reading it here keeps this layer from importing the shells' __init__.
        version: str = sys.modules[__package__ or "setuptools_nolibpython"].__version__
        return check_document(version, [(t.kind, t.report) for t in self.targets], self.status,
                              warnings=[t.warnings for t in self.targets], unused_allow=self.unused_allow,
                              skipped=self.skipped)


def check(paths: Sequence[str], settings: CheckSettings = CheckSettings()) -> CheckResult:
    """Check wheels, directories and ELF files together, as ``nolibpython check PATH...``.

    Every path is vetted before any work (UsageError, one line naming it, for a path of an
    unknown kind, or a ``settings.python`` that does not exist).
    """
    if not paths:
        raise UsageError("check needs a PATH (a wheel, a directory or an ELF file)")
    if settings.check_symbols not in CHECK_SYMBOLS:
        raise UsageError(f"check_symbols must be one of {', '.join(CHECK_SYMBOLS)}, not {settings.check_symbols!r}")
    kinds = [(p, path_kind(p)) for p in paths]
    if settings.python is not None and not os.path.isfile(settings.python):
        raise UsageError(f"--python {settings.python}: no such file")
    specs, skipped = _expand(kinds)
    results = _check_targets(specs, settings)
    status = exit_status([t.report for t in results])
    return CheckResult(tuple(results), tuple(skipped), tuple(_unused_allow(settings.allow, results)), status)


def exit_status(reports: Sequence[ScanReport]) -> int:
    """EXIT_INTERNAL when a bug kept a file from being judged (never a verdict), else
    EXIT_FAIL for a violation or an unreadable file, else EXIT_OK."""
    if any(r.internal_errors for r in reports):
        return EXIT_INTERNAL
    return EXIT_FAIL if any(r.failed for r in reports) else EXIT_OK
