"""`make demo` (scripts/demo.sh) shows the problem before the fix: the control build without
the plugin needs libpython and fails to import in Debian's python3.11 with libpython hidden;
the build with the plugin needs nothing, scans clean and imports there."""

from __future__ import annotations

import os
import re
import shutil
import sys

from support import DEBIAN_PYTHON, REPO, require, run

DEMO = REPO / "scripts" / "demo.sh"


def test_demo_shows_the_failure_then_the_fix() -> None:
    require((REPO / ".venv" / "bin" / "python").exists(), "the demo runs in the project's .venv (make setup)")
    require(sys.version_info[:2] == (3, 11), "the demo's Debian import needs the .venv's Python to be a 3.11")
    require(DEBIAN_PYTHON.is_file(), f"{DEBIAN_PYTHON} is needed", apt=["python3.11"])
    require(os.geteuid() == 0 and shutil.which("unshare"), "hiding libpython needs root and unshare",
            apt=["util-linux"])
    proc = run(["bash", str(DEMO)], cwd=REPO)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    # The negative control, in this order: its module needs libpython, and that import fails.
    control = re.search(r"\(NEEDED\)\s+Shared library: \[libpython3\.\d+\.so\.1\.0\]", out)
    error = out.find("ImportError: libpython3.11.so.1.0: cannot open shared object file")
    assert control and error > control.end(), out
    # Then the plugin's build: its changes logged, a clean scan, no DT_NEEDED, imports both times.
    fix = [out.find(s, error) for s in (
        "setuptools-nolibpython: nolibpython_demo._core: removed 'python3.11' (libpython) from libraries",
        ": none needs libpython",
        "(no DT_NEEDED, no RPATH/RUNPATH: nothing to find at import time)",
        "built-by interpreter: 42 3.11.",
        "Debian python3.11, libpython hidden: 42 3.11.",
        "demo: OK",
    )]
    assert all(i > error for i in fix) and fix == sorted(fix), (fix, out)
    # The libpython line shows up once, in the control only: the fixed module has none.
    assert len(re.findall(r"\[libpython", out)) == 1, out
