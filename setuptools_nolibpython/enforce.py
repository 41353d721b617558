"""The in-build step: plan the fixes config allows, judge what would ship, then decide and write.

Independent of setuptools: the glue hands it files (a wheel tree before it is zipped)
or a finished wheel (``setuptools_nolibpython.wrap``, for any PEP 517 backend) and a
Config, and turns ViolationError into a build error. Each ELF file is read once: its
fixes (strip-rpath, on-violation = "repair") are planned from those bytes and the file
is judged as the fixes would leave it (elfpatch.PatchedSource), so the verdict is on
what ships. Fixes are written only once every verdict of the build is known and the
files will be kept: a build that fails writes nothing, and logs no removal.

Only what every caller needs is imported at module level: the ELF reader, the policy
and the symbol check are imported once an ELF file is found, so a build that links
nothing never loads them (tests/test_lazy_build.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .config import Config
from .errors import RepairError, ViolationError
from .logs import PREFIX, get_logger
from .report import problem_lines, summary
from .results import ScanOptions, ScanReport, SymbolSettings
from .sources import is_elf_file

if TYPE_CHECKING:
    from .elfpatch import EditPlan
    from .pybuild import WheelTarget
    from .sources import ByteSource

__all__ = ["Pending", "apply_fixes", "enforce", "enforce_wheel", "judge_files", "judge_wheel", "settle", "verdict"]

log = get_logger(__name__)


class _Planner:
    """ScanOptions.view: plans each file's fixes from the bytes being judged and hands
    the scan the file as the fixes leave it; the plans wait in ``plans`` for the verdict."""

    def __init__(self, config: Config) -> None:
        from .policy import current_interpreter_libdirs

        self.config = config
        self.libdirs = current_interpreter_libdirs()
        self.plans: Dict[str, EditPlan] = {}

    def __call__(self, name: str, src: ByteSource) -> ByteSource:
        from .elf import read_elf
        from .elfpatch import PatchedSource, plan_repair
        from .errors import ElfReadError
        from .policy import is_allowed

        try:
            plan = plan_repair(
                src,
                read_elf(src),
                remove_libpython=self.config.on_violation == "repair" and not is_allowed(name, self.config.allow),
                strip_rpath=self.config.strip_rpath,
                interpreter_libdirs=self.libdirs,
            )
        except ElfReadError:
            return src  # the scan reads it again and reports it unreadable
        if plan.empty:
            return src
        self.plans[name] = plan
        return PatchedSource(src, plan.patches)


def _options_for(
    config: Config, wheel_tags: Union[WheelTarget, Sequence[str]] = (), planner: Optional[_Planner] = None,
    context: str = "build",
    hint: str = "",
) -> ScanOptions:
    """``context`` "build" (setuptools, the plugin on) or "backend" (the wrapper, whose
    backend's fix is ``hint``) decides the fix a libpython link gets."""
    from .policy import current_interpreter_libdirs

    return ScanOptions(
        allow=config.allow,
        interpreter_libdirs=current_interpreter_libdirs(),
        symbols=SymbolSettings.unless_off(config.check_symbols, wheel_tags=wheel_tags,
                                          missing_libraries="error" if config.strict else "warn"),
        view=planner,
        context=context,
        backend_hint=hint,
    )


class Pending:
    """A verdict decided from the plan, its fixes not yet written (see settle)."""

    def __init__(
        self, report: ScanReport, config: Config, write: Callable[[], Iterable[Tuple[str, EditPlan]]],
    ) -> None:
        self.report = report
        self.config = config
        self._write = write

    @property
    def kept(self) -> bool:
        """Will what was judged ship? Only then are its fixes written."""
        return not self.report.failed or self.config.on_violation == "warn"

    def write(self) -> ScanReport:
        """Write the fixes, log them, then log the verdict (which raises when not kept)."""
        if self.kept:
            for rel, plan in self._write():
                for line in _fix_lines(rel, plan.removed_needed, plan.removed_rpath):
                    log.info("%s", line)
        return verdict(self.report, self.config)


def settle(pending: Sequence[Pending]) -> List[ScanReport]:
    """Every verdict first (the first that fails raises, with nothing written), then the fixes."""
    for p in pending:
        if not p.kept:
            verdict(p.report, p.config)  # raises ViolationError
    return [p.write() for p in pending]


def apply_fixes(files: Sequence[Tuple[str, str]], config: Config) -> List[str]:
    """Strip build-machine RPATHs and (in repair mode) libpython entries, in place.

    Returns one log line per fix. Allowed files keep their libpython. Files that are not
    ELF, or cannot be read, are left to the verification that follows (the wheel's,
    under bdist_wheel: these are build_ext's outputs on their way into it).
    """
    if not files:
        return []
    from .elfpatch import patch_file
    from .sources import FileSource

    planner = _Planner(config)
    done: List[str] = []
    for rel, path in files:
        try:
            with FileSource(path) as src:
                planner(rel, src)
        except OSError:
            continue
        plan = planner.plans.get(rel)
        if plan is not None:
            patch_file(path, plan)
            done += _fix_lines(rel, plan.removed_needed, plan.removed_rpath)
    return done


def _fix_lines(rel: str, removed_needed: Iterable[str], removed_rpath: Iterable[str]) -> List[str]:
    """The log lines of one file's fixes, the same for a tree and a wheel."""
    return [f"{rel}: repaired: removed DT_NEEDED {name}" for name in removed_needed] + [
        f"{rel}: removed RPATH/RUNPATH entry {entry} (build interpreter's lib dir)" for entry in removed_rpath
    ]


def judge_files(
    files: Sequence[Tuple[str, str]], config: Config, where: str, wheel_tags: Sequence[str] = (), hint: str = "",
    context: str = "build",
) -> Pending:
    """The verdict on (relative name, path) pairs as their fixes would leave them.

    ``wheel_tags`` (``cp39-abi3-linux_x86_64``) tell the symbol check the Stable ABI target;
    ``context`` and ``hint``: see _options_for.
    """
    elf_files = [(rel, path) for rel, path in files if is_elf_file(path)]  # the one look at each file
    if not elf_files:
        return Pending(ScanReport(where, ()), config, lambda: ())
    from .scan import scan_elf_files

    planner = _Planner(config)
    options = _options_for(config, wheel_tags, planner, context, hint)
    report = scan_elf_files(where, elf_files, options)

    def write() -> List[Tuple[str, EditPlan]]:
        from .elfpatch import patch_file

        done = [(rel, path, planner.plans[rel]) for rel, path in elf_files if rel in planner.plans]
        for _rel, path, plan in done:
            patch_file(path, plan)
        return [(rel, plan) for rel, _path, plan in done]

    return Pending(report, config, write)


def enforce(
    files: Sequence[Tuple[str, str]], config: Config, where: str, wheel_tags: Sequence[str] = (), hint: str = "",
    context: str = "build",
) -> ScanReport:
    """Judge, then fix and log; raise ViolationError (nothing written) when on-violation =
    "error" or "repair" and a file fails."""
    return settle([judge_files(files, config, where, wheel_tags, hint, context)])[0]


def judge_wheel(wheel: str, config: Config, hint: str = "") -> Pending:
    """The verdict on a finished wheel as its fixes would leave it, from one read of it:
    the container is vetted, each ELF member inflated once, planned and judged."""
    import zipfile

    from .errors import ZIP_ERRORS
    from .scan import scan_wheel
    from .wheeltags import wheel_target

    planner = _Planner(config)
    try:
        zf = zipfile.ZipFile(wheel)
    except ZIP_ERRORS as exc:
        return Pending(ScanReport(wheel, (), (f"not a readable wheel (zip): {exc}",)), config, lambda: ())
    with zf:
        tags, mismatch = wheel_target(wheel, zf)  # WHEEL's Tag lines, as `nolibpython check` reads them
        if mismatch:
            log.warning("%s: %s", wheel, mismatch)
        options = _options_for(config, tags, planner, "backend", hint)
        report = scan_wheel(wheel, options, zf)

    def write() -> List[Tuple[str, EditPlan]]:
        if not planner.plans:
            return []
        from .wheelrepair import apply_plans_in_place

        if report.errors:
            raise ViolationError(f"{PREFIX}{wheel}: refusing to repair an unsafe wheel: " + "; ".join(report.errors))
        try:
            apply_plans_in_place(wheel, planner.plans)
        except RepairError as exc:
            raise ViolationError(f"{PREFIX}{exc}") from None
        return list(planner.plans.items())

    return Pending(report, config, write)


def enforce_wheel(wheel: str, config: Config, hint: str = "") -> ScanReport:
    """The same judge-then-fix for a finished wheel, rewritten in place (temp file beside
    it, renamed over it) only when it will be kept. The caller deletes the wheel on
    ViolationError (on-violation = "error")."""
    return settle([judge_wheel(wheel, config, hint)])[0]


def verdict(report: ScanReport, config: Config) -> ScanReport:
    """Log the report; raise ViolationError when it failed and on-violation is not "warn".

    Says what the CLI says: every finding, what the whole-wheel checks could not verify
    (``report.notes``: "symbols not checked", "built for another machine"), and each
    ``allow`` pattern that matched no file.
    """
    from .globs import matches_any

    lines = [line for r in report.files for line in problem_lines(r)]
    notes = [f"{report.target}: note: {n}" for n in report.notes]
    paths = [f.path for f in report.files]
    notes += [f"allow pattern {p!r} matches no ELF file in {report.target}"
              for p in dict.fromkeys(config.allow) if not any(matches_any(path, (p,)) for path in paths)]
    if report.failed or notes:
        from .policy import printable

        notes = [printable(n) for n in notes]
    if report.failed:
        head = [summary(report)]
        head += [printable(f"  {report.target}: {e}") for e in report.errors]
        head += [printable(f"  {report.target}: {e}") for e in report.internal_errors]
        text = "\n".join(head + ["  " + ln for ln in lines + notes])
        if config.on_violation == "warn":
            log.warning("%s", text)  # the logger adds the prefix
            return report
        raise ViolationError(PREFIX + text)
    for ln in lines + notes:
        log.warning("%s", ln)
    log.info("%s", summary(report))
    return report
