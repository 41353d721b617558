"""The last line of a test run: what was skipped on this machine and how to install it.

A pytest plugin (tests/conftest.py loads it). Every skip whose reason carries
``(apt-get install ...)`` (``support.require(..., apt=[...])`` writes it) contributes
its packages; the run ends with one line naming the skipped tests and one
``apt-get install`` command for all of them, or saying that nothing was skipped. It is
printed after pytest's own summary line, so it really is the last line of ``make test``.
Under pytest-xdist only the controller prints it, from the reports the workers sent.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import pytest

from support import APT_HINT


def skip_reason(report: object) -> str:
    """The reason text of a skipped test or collection report ('' if it has none)."""
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return str(longrepr or "")


def summary_line(skips: Sequence[Tuple[str, str]]) -> str:
    """One line from (test id, reason) pairs."""
    if not skips:
        return "skipped: nothing, every test ran on this machine"
    packages: List[str] = []
    by_apt: List[str] = []
    other: Dict[str, List[str]] = {}
    for nodeid, reason in sorted(skips):
        name = nodeid[len("tests/"):] if nodeid.startswith("tests/") else nodeid
        hint = APT_HINT.search(reason)
        if hint:
            by_apt.append(name)
            packages += [p for p in hint[1].split() if p not in packages]
        else:
            # Reasons may quote a tool's output: folded onto the one line.
            other.setdefault(" ".join(reason.split()) or "no reason given", []).append(name)
    parts = [f"skipped {len(skips)} test{'s' if len(skips) != 1 else ''}"]
    if by_apt:
        them = "them" if len(by_apt) != 1 else "it"
        parts.append(f"{', '.join(by_apt)}: run `apt-get install -y {' '.join(packages)}` to run {them}")
    for reason, names in other.items():
        parts.append(f"{', '.join(names)}: {reason}")
    return "; ".join(parts)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Print the line after pytest's own summary (pytest_terminal_summary comes before it)."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller reports
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.option.collectonly:
        return
    skips = list(dict.fromkeys((r.nodeid, skip_reason(r)) for r in reporter.stats.get("skipped", [])))
    reporter.write_line(summary_line(skips))
