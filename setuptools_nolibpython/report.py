"""Words for people: one line per problem (what, where, how to fix) and a summary."""

from __future__ import annotations

from typing import List

from .policy import ERROR
from .scan import FileResult, ScanReport


def problem_lines(result: FileResult, include_warnings: bool = True) -> List[str]:
    out = []
    for p in result.problems:
        if p.severity != ERROR and not include_warnings:
            continue
        tag = "allowed" if result.allowed and p.severity == ERROR else p.severity
        out.append(f"{result.path}: {tag}: {p.message}; fix: {p.fix}")
    return out


def summary(report: ScanReport) -> str:
    n = len(report.files)
    noun = "ELF file" if n == 1 else "ELF files"
    failed = report.failures
    allowed = sum(1 for f in report.files if f.verdict == "allowed")
    extra = f" ({allowed} allowed by configuration)" if allowed else ""
    if report.errors:
        return f"{report.target}: " + "; ".join(report.errors)
    if not failed:
        return f"checked {n} {noun} in {report.target}: none needs libpython{extra}"
    unreadable = sum(1 for f in failed if f.verdict == "unreadable")
    parts = []
    if len(failed) - unreadable:
        parts.append(f"{len(failed) - unreadable} violate the no-libpython rule")
    if unreadable:
        parts.append(f"{unreadable} could not be read")
    return f"checked {n} {noun} in {report.target}: " + ", ".join(parts) + extra
