"""The in-build step: fix what config allows, verify everything, decide pass or fail.

Independent of setuptools: the glue hands it files and a Config and turns
ViolationError into a build error. Fixes (strip-rpath, on-violation = "repair") are
applied first, then the files are verified again, so the verdict is on what ships.
"""

from __future__ import annotations

import logging
from typing import List, Sequence, Tuple

from .config import Config
from .elf import ElfReadError, read_elf
from .elfpatch import patch_file, plan_repair
from .report import needs_libpython, problem_lines, summary
from .scan import (
    ScanOptions,
    ScanReport,
    current_interpreter_libdirs,
    is_allowed,
    is_elf_file,
    scan_elf_files,
)
from .sources import FileSource
from .symbols import symbol_checks

log = logging.getLogger("setuptools_nolibpython")

class ViolationError(Exception):
    """The build must fail; the message lists each file, what is wrong and the fix."""


def options_for(config: Config, wheel_tags: Sequence[str] = ()) -> ScanOptions:
    return ScanOptions(
        allow=config.allow,
        interpreter_libdirs=current_interpreter_libdirs(),
        checks=symbol_checks(config.check_symbols, wheel_tags=wheel_tags),
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
        for name in plan.removed_needed:
            done.append(f"{rel}: repaired: removed DT_NEEDED {name}")
        for entry in plan.removed_rpath:
            done.append(f"{rel}: removed RPATH/RUNPATH entry {entry} (build interpreter's lib dir)")
    return done


def enforce(
    files: Sequence[Tuple[str, str]], config: Config, where: str, wheel_tags: Sequence[str] = ()
) -> ScanReport:
    """Fix, verify, log; raise ViolationError when on-violation = "error" and a file fails.

    ``wheel_tags`` (``cp39-abi3-linux_x86_64``) tell the symbol check the Stable ABI target.
    """
    elf_files = [(rel, path) for rel, path in files if is_elf_file(path)]  # the one look at each file
    for line in apply_fixes(elf_files, config):
        log.info("setuptools-nolibpython: %s", line)
    report = scan_elf_files(where, elf_files, options_for(config, wheel_tags))
    lines = [line for r in report.files for line in problem_lines(r)]
    if report.failed:
        text = "\n".join(["setuptools-nolibpython: " + summary(report)] + ["  " + ln for ln in lines])
        if config.on_violation == "warn":
            log.warning("%s", text)
            return report
        if any(needs_libpython(r) and not r.allowed for r in report.files):
            text += '\n  (set on-violation = "repair" in [tool.setuptools-nolibpython] to fix such files automatically)'
        raise ViolationError(text)
    for ln in lines:
        log.warning("setuptools-nolibpython: %s", ln)
    log.info("setuptools-nolibpython: %s", summary(report))
    return report
