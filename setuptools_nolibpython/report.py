"""Words for people and programs: lines (what, where, how to fix), a summary, a JSON document.

The JSON document is what ``nolibpython check --json`` prints; its shape is documented
in docs/check-json-schema.json and changes only with JSON_SCHEMA_VERSION.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .results import ERROR, FileResult, ScanReport

# policy (and the ELF reader under it) is imported where a finding is worded: a build
# whose wheel holds no ELF file logs its summary line without loading either.

__all__ = [
    "JSON_SCHEMA_VERSION",
    "VERDICTS",
    "check_document",
    "file_document",
    "needs_libpython",
    "problem_lines",
    "summary",
]


def problem_lines(result: FileResult, where: str = "") -> List[str]:
    """One line per finding: the file, its verdict, what is wrong; fix: how.

    The one wording of a finding: the build log and ``nolibpython check`` both print it.
    An error is labelled with the file's verdict (violation, allowed or unreadable, the
    words of ``--json``), a warning as a warning. ``where`` names the container (a wheel
    or directory) the file was found in.
    """
    from .policy import printable

    name = f"{where}: {result.path}" if where else result.path
    out = []
    for p in result.problems:
        if p.severity != ERROR:
            label = p.severity.value
        else:
            label = "allowed" if result.waived(p) else ("unreadable" if result.info is None else "violation")
        fix = f"; fix: {p.fix}" if p.fix else ""  # an allowed libpython link has nothing to fix
        # Names come from the scanned file: escape what cannot be printed on one line.
        out.append(printable(f"{name}: {label}: {p.message}{fix}"))
    return out


def needs_libpython(result: FileResult) -> bool:
    """True when the file fails because of a libpython DT_NEEDED (what repair can fix)."""
    from .policy import NEEDS_LIBPYTHON

    return any(p.code == NEEDS_LIBPYTHON and p.severity == ERROR for p in result.problems)


def summary(report: ScanReport, kind: str = "") -> str:
    """One line for a target. ``kind`` "directory": a directory is "nothing to check" only
    when it holds no ELF file and no wheel (the CLI makes it a target only then, or when
    its tree holds ELF files)."""
    n = len(report.files)
    noun = "ELF file" if n == 1 else "ELF files"
    failed = report.failures
    allowed = sum(1 for f in report.files if any(f.waived(p) for p in f.problems))
    extra = f" ({allowed} allowed to link libpython)" if allowed else ""
    if not failed and not report.errors and not report.internal_errors:
        if n == 0 and kind == "directory":
            return f"nothing to check in {report.target}: no ELF file and no wheel in it"
        if n == 0:
            return f"checked 0 ELF files in {report.target}: nothing checked (no ELF file in it)"
        return f"checked {n} {noun} in {report.target}: none needs libpython{extra}"
    from .policy import EXECUTABLE_NEEDS_LIBPYTHON

    unreadable = sum(1 for f in failed if f.verdict == "unreadable")
    parts = []
    if report.errors:  # each is printed on its own line by the caller
        k = len(report.errors)
        parts.append(f"{k} problem{'s' if k != 1 else ''} with the wheel itself")
    if report.internal_errors:  # likewise; a bug, not a verdict
        k = len(report.internal_errors)
        parts.append(f"{k} file{'s' if k != 1 else ''} not judged because of an internal error")
    libpython = sum(1 for f in failed if f.verdict != "unreadable" and needs_libpython(f) and not f.allowed)
    if libpython:
        parts.append(f"{libpython} {'violates' if libpython == 1 else 'violate'} the no-libpython rule")
    programs = sum(1 for f in failed if f.verdict != "unreadable" and not needs_libpython(f) and not f.allowed
                   and any(p.code == EXECUTABLE_NEEDS_LIBPYTHON and p.severity == ERROR for p in f.problems))
    if programs:
        parts.append(f"{programs} {'program embeds' if programs == 1 else 'programs embed'} Python through libpython")
    others = len(failed) - unreadable - libpython - programs
    if others:
        parts.append(f"{others} {'fails' if others == 1 else 'fail'} the symbol checks")
    if unreadable:
        parts.append(f"{unreadable} could not be read")
    return f"checked {n} {noun} in {report.target}: " + ", ".join(parts) + extra


#: Bumped when a field changes meaning or disappears (adding a field does not bump it).
JSON_SCHEMA_VERSION = 1
VERDICTS = ("clean", "violation", "allowed", "unreadable")


def file_document(result: FileResult, libraries: Optional[Sequence[Mapping[str, Optional[str]]]] = None
                  ) -> Dict[str, Any]:
    """The JSON form of one ELF file; load-time fields are null when it could not be read.

    ``libraries``: where each DT_NEEDED was found (the symbol check's record), null when
    the symbol check did not resolve the file."""
    info = result.info
    return {
        "path": result.path,
        "verdict": result.verdict,
        "allowed": result.allowed,
        "needed": list(info.needed) if info else None,
        "rpath": list(info.rpath) if info else None,
        "runpath": list(info.runpath) if info else None,
        "soname": info.soname if info else None,
        "is_program": info.is_executable if info else None,
        "libraries": [dict(row) for row in libraries] if libraries is not None else None,
        "problems": [
            {"code": p.code.value, "severity": p.severity.value, "message": p.message, "fix": p.fix, "detail": p.detail}
            for p in result.problems
        ],
    }


def check_document(
    version: str,
    targets: Sequence[Tuple[str, ScanReport]],
    exit_status: int,
    warnings: Sequence[Sequence[str]] = (),
    unused_allow: Sequence[str] = (),
    skipped: Sequence[str] = (),
) -> Dict[str, Any]:
    """One JSON document for a ``check`` run over (kind, report) pairs; see docs/check-json-schema.json.

    ``version`` is the tool's (the CLI passes the package's ``__version__``). Each report
    carries its notes, its symbol check and where its libraries were found;
    ``warnings[i]`` are findings about target ``i`` itself that do not fail it (a wheel
    whose name and WHEEL tags disagree). ``unused_allow``: allow patterns that matched no
    file; ``skipped``: virtual environments not walked.
    """
    totals = {v: 0 for v in VERDICTS}
    out_targets = []
    for i, (kind, report) in enumerate(targets):
        for f in report.files:
            totals[f.verdict] += 1
        out_targets.append(
            {
                "path": report.target,
                "kind": kind,
                "ok": not report.failed,
                "errors": list(report.errors),
                "internal_errors": list(report.internal_errors),
                "notes": list(report.notes),
                "warnings": list(warnings[i]) if i < len(warnings) else [],
                "symbol_check": {"status": report.symbol_check, "reason": report.symbol_reason},
                "summary": summary(report, kind),
                "files": [file_document(f, report.libraries.get(f.path)) for f in report.files],
            }
        )
    return {
        "tool": "setuptools-nolibpython",
        "version": version,
        "schema_version": JSON_SCHEMA_VERSION,
        "exit_status": exit_status,
        "ok": exit_status == 0,
        "totals": {"files": sum(totals.values()), **totals},
        "internal_error": any(t["internal_errors"] for t in out_targets),
        "unused_allow": list(unused_allow),
        "skipped": list(skipped),
        "targets": out_targets,
    }
