"""Stand-in for ``nolibpython check WHEEL`` while the CLI does not exist: scan_wheel only."""

from __future__ import annotations

import sys

from setuptools_nolibpython.results import ScanOptions
from setuptools_nolibpython.scan import scan_wheel


def main(path: str) -> int:
    report = scan_wheel(path, ScanOptions())
    print(len(report.files))
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
