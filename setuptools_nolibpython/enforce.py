"""The in-build step: fix what config allows, verify everything, decide pass or fail.

Independent of setuptools: the glue hands it files (a wheel tree before it is zipped)
or a finished wheel (``setuptools_nolibpython.wrap``, for any PEP 517 backend) and a
Config, and turns ViolationError into a build error. Fixes (strip-rpath,
on-violation = "repair") are applied first, then the files are verified again, so the
verdict is on what ships.
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .config import Config
from .elf import read_elf
from .elfpatch import patch_file, plan_repair
from .errors import ElfReadError, RepairError, ViolationError
from .logs import PREFIX, get_logger
from .policy import current_interpreter_libdirs, is_allowed, printable
from .pybuild import WheelTarget
from .report import problem_lines, summary
from .results import ScanOptions, ScanReport
from .scan import is_elf_file, scan_elf_files, scan_wheel
from .sources import FileSource
from .symbols import symbol_checks
from .wheeltags import wheel_target

__all__ = ["apply_fixes", "enforce", "enforce_wheel", "verdict"]

log = get_logger(__name__)

def _options_for(
    config: Config, wheel_tags: Union[WheelTarget, Sequence[str]] = (), context: str = "build", hint: str = ""
) -> ScanOptions:
    return ScanOptions(
        allow=config.allow,
        interpreter_libdirs=current_interpreter_libdirs(),
        checks=symbol_checks(config.check_symbols, wheel_tags=wheel_tags,
                             missing_libraries="error" if config.strict else "warn"),
        context=context,
        backend_hint=hint,
    )


def apply_fixes(files: Sequence[Tuple[str, str]], config: Config) -> List[str]:
    """Strip build-machine RPATHs and (in repair mode) libpython entries, in place.

    Returns one log line per fix. Allowed files keep their libpython. Files that are not
    ELF, or cannot be read, are left to the verification that follows.
    """
    libdirs = current_interpreter_libdirs()
    done: List[str] = []
    for rel, path in files:
        try:
            with FileSource(path) as src:
                plan = plan_repair(
                    src,
                    read_elf(src),
                    remove_libpython=config.on_violation == "repair" and not is_allowed(rel, config.allow),
                    strip_rpath=config.strip_rpath,
                    interpreter_libdirs=libdirs,
                )
        except (ElfReadError, OSError):
            continue
        if plan.empty:
            continue
        patch_file(path, plan)
        done += _fix_lines(rel, plan.removed_needed, plan.removed_rpath)
    return done


def _fix_lines(rel: str, removed_needed: Iterable[str], removed_rpath: Iterable[str]) -> List[str]:
    """The log lines of one file's fixes, the same for a tree and a wheel."""
    return [f"{rel}: repaired: removed DT_NEEDED {name}" for name in removed_needed] + [
        f"{rel}: removed RPATH/RUNPATH entry {entry} (build interpreter's lib dir)" for entry in removed_rpath
    ]


def enforce(
    files: Sequence[Tuple[str, str]], config: Config, where: str, wheel_tags: Sequence[str] = (), hint: str = "",
    context: str = "build",
) -> ScanReport:
    """Fix, verify, log; raise ViolationError when on-violation = "error" and a file fails.

    ``wheel_tags`` (``cp39-abi3-linux_x86_64``) tell the symbol check the Stable ABI target;
    ``context`` "build" (setuptools, the plugin on) or "backend" (the wrapper, whose
    backend's fix is ``hint``) decides the fix a libpython link gets.
    """
    elf_files = [(rel, path) for rel, path in files if is_elf_file(path)]  # the one look at each file
    for line in apply_fixes(elf_files, config):
        log.info("%s", line)
    options = _options_for(config, wheel_tags, context, hint)
    return verdict(scan_elf_files(where, elf_files, options), config, options)


def enforce_wheel(wheel: str, config: Config, hint: str = "") -> ScanReport:
    """The same fix-verify-decide for a finished wheel, rewritten in place when fixed.

    Fixes go through wheelrepair (temp file beside the wheel, verified, renamed over
    it), so the wheel is whole or unchanged. The caller deletes the wheel on
    ViolationError (on-violation = "error").
    """
    from .wheelrepair import repair_wheel

    try:
        result = repair_wheel(
            wheel,
            os.path.dirname(os.path.abspath(wheel)),  # unused in place; the temp file goes beside the wheel
            keep_rpath=not config.strip_rpath,
            allow=config.allow,
            remove_libpython=config.on_violation == "repair",
            in_place=True,
        )
    except RepairError as exc:
        raise ViolationError(f"{PREFIX}{exc}") from None
    for fix in result.fixes:
        for line in _fix_lines(fix.path, fix.removed_needed, fix.removed_rpath):
            log.info("%s", line)
    target, mismatch = wheel_target(wheel)  # WHEEL's Tag lines, as `nolibpython check` reads them
    if mismatch:
        log.warning("%s: %s", wheel, mismatch)
    options = _options_for(config, target, "backend", hint)
    return verdict(scan_wheel(wheel, options), config, options)


def verdict(report: ScanReport, config: Config, options: Optional[ScanOptions] = None) -> ScanReport:
    """Log the report; raise ViolationError when it failed and on-violation is not "warn".

    Says what the CLI says: every finding, what the whole-wheel checks could not verify
    (``options.notes()``: "symbols not checked", "built for another machine"), and each
    ``allow`` pattern that matched no file.
    """
    lines = [line for r in report.files for line in problem_lines(r)]
    notes = [printable(f"{report.target}: note: {n}") for n in (options.notes() if options else ())]
    paths = [f.path for f in report.files]
    notes += [f"allow pattern {p!r} matches no ELF file in {report.target}"
              for p in dict.fromkeys(config.allow) if not any(is_allowed(path, (p,)) for path in paths)]
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
