"""The in-build path as a fresh process: scan an unpacked tree the way the plugin does.

Same options the build uses (the interpreter's lib dirs for the RPATH rule, no symbol
checks: ``check_symbols`` is measured separately on wheels). ``treescan.py ROOT`` walks
the tree and finds ELF files by magic; ``treescan.py ROOT LISTFILE`` scans exactly the
files listed (one path per line), the same input readelf gets. Prints the ELF count.
"""

from __future__ import annotations

import sys
from typing import Optional

from setuptools_nolibpython.policy import current_interpreter_libdirs
from setuptools_nolibpython.results import ScanOptions
from setuptools_nolibpython.scan import scan_paths, scan_tree


def main(root: str, listfile: Optional[str] = None) -> int:
    options = ScanOptions(interpreter_libdirs=current_interpreter_libdirs())
    if listfile is None:
        report = scan_tree(root, options)
    else:
        with open(listfile) as f:
            paths = [line.rstrip("\n") for line in f if line.strip()]
        report = scan_paths(root, [(p[len(root):].lstrip("/"), p) for p in paths], options)
    print(len(report.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
