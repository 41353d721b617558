#!/usr/bin/env python3
"""Render the compatibility matrix recorded by the test run into docs/compatibility.md.

Tests call ``tests.support.record_compat(section, case, status, detail)`` after their
assertions pass, appending one JSON line to .cache/compat/results.jsonl (truncated at the
start of each pytest session). This script turns those lines into the published table,
so every cell in the document comes from a test of the last run; required cells that
produced no line are listed as "not run" instead of silently disappearing.

    python scripts/gen_compat.py [--results FILE] [--output FILE] [--check]

Without ``--check`` it writes the document (``make compat``; the pytest session only
renders its copy under .cache/compat/, so a test run never changes a tracked file).
``--check`` writes nothing and exits 1 when a required cell is missing or a cell failed,
or when the cells of the committed document (section, case, result) differ from this
run's: the evidence column carries machine-specific text (paths, patch releases) and the
header the date, so those are not compared.
The document is never edited by hand: rerun ``make compat`` (or this script after
``make test``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from setuptools_nolibpython.elfpatch import write_atomically as _write_atomically

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("NOLIBPYTHON_COMPAT_RESULTS") or REPO / ".cache" / "compat" / "results.jsonl")
OUTPUT = REPO / "docs" / "compatibility.md"

#: Section order and what each section shows; sections not listed here follow, sorted.
SECTIONS: Dict[str, str] = {
    "interpreters": "`sample_project` built by `pip wheel` (build isolation on, the plugin from a local "
                    "wheel) with each interpreter, then imported by that interpreter. Negative control: "
                    "the same build with `SETUPTOOLS_NOLIBPYTHON=0` links libpython.",
    "cross-interpreter": "The seed's case: a wheel built by a shared-libpython interpreter, imported by "
                         "Debian's static python3.11 with every libpython hidden "
                         "(`tests/support/without_libpython.sh`).",
    "embedding hosts": "`tests/support/embed_host.c` dlopen()s pyenv 3.11's libpython3.11.so.1.0, "
                       "initialises Python through dlsym and imports the plugin-built module.",
    "apache mod_wsgi": "Debian's apache2 + libapache2-mod-wsgi-py3 on 127.0.0.1 (private ServerRoot, free "
                       "high port) serve a WSGI app that calls the plugin-built module (built by Debian's "
                       "python3.11, the interpreter mod_wsgi embeds).",
    "application server uWSGI": "Debian's uwsgi-core + uwsgi-plugin-python3 (`--plugin python3 --master`, "
                                 "`--http-socket` on 127.0.0.1 at a free port) serve an app that calls the "
                                 "plugin-built module (built by Debian's python3.11, which all hosts below embed); "
                                 "requested over HTTP, stopped by SIGINT to the master's pid.",
    "database PostgreSQL PL/Python": "Debian's postgresql-15 + postgresql-plpython3-15: a private cluster (initdb in a "
                                     "temp dir, run as postgres, unix socket only), a plpython3u function that imports "
                                     "the plugin-built module, queried with psql, stopped by pg_ctl.",
    "debugger gdb": "Debian's gdb runs `python ...` in batch mode and imports the plugin-built module.",
    "editor vim": "Debian's vim-nox runs `py3 ...` in silent Ex mode and imports the plugin-built module.",
    "cibuildwheel": "The configuration in [cibuildwheel.md](cibuildwheel.md), checked without a container "
                    "engine: cibuildwheel parses it, the containers' situation is reproduced, and its repair "
                    "and test commands run on the plugin's wheel.",
    "front-ends": "Front-ends driving the build; each imported module is checked with readelf.",
    "composition": "The plugin combined with build_ext classes of the project or of other tools.",
    "setuptools versions": "The plugin under the setuptools versions it declares support for.",
}

#: Cells the issue requires. A required cell without a result shows as "not run".
#: Helpers owning a section add their case names here (case names must match the tests).
REQUIRED: Dict[str, Tuple[str, ...]] = {
    "interpreters": (
        "CPython 3.9 (pyenv, shared libpython)",
        "CPython 3.10 (pyenv, shared libpython)",
        "CPython 3.11 (pyenv, shared libpython)",
        "CPython 3.12 (pyenv, shared libpython)",
        "CPython 3.13 (pyenv, shared libpython)",
        "CPython 3.11 (Debian /usr/bin/python3.11, static)",
        "CPython 3.11 debug (Debian python3.11-dbg, libpython3.11d)",
        "CPython free-threaded (3.13t)",
    ),
    "cross-interpreter": (
        "pyenv 3.11 wheel -> Debian python3.11, libpython hidden",
    ),
    "embedding hosts": (
        "dlopen RTLD_GLOBAL",
        "dlopen RTLD_LOCAL",
        "dlopen RTLD_LOCAL, then RTLD_NOLOAD|RTLD_GLOBAL",
    ),
    "apache mod_wsgi": (
        "embedded mode",
        "daemon mode (WSGIDaemonProcess)",
    ),
    "application server uWSGI": (
        "--plugin python3, --master",
        "--enable-threads (module called from a Python thread)",
        "--lazy-apps --processes 2 (app loaded in each worker)",
    ),
    "database PostgreSQL PL/Python": (
        "plpython3u function, private cluster (unix socket only, run as postgres)",
    ),
    "debugger gdb": (
        "gdb -batch -ex 'python import ...'",
    ),
    "editor vim": (
        "vim.nox -es -c 'py3 ...' -c 'qa!'",
    ),
    "cibuildwheel": (
        "configuration accepted by cibuildwheel",
        "static python, no libpython*.so (the containers' situation)",
        "auditwheel repair, nolibpython check, test-command",
    ),
    "front-ends": (
        "pip wheel",
        "python -m build --wheel",
        "pip install -e .",
        "setup.py build_ext --inplace",
        "build_ext --parallel 4 (5 extensions)",
        "uv build --wheel",
    ),
    "setuptools versions": (
        "setuptools 61.0.0",
        "setuptools 69.5.1",
        "setuptools 70.1.0",
        "setuptools newest",
        "setuptools 64.0.0, pip install -e",
        "setuptools < 61 is refused (60.10.0)",
        "Python 3.12: setuptools 66.1.0; < 66.1 refused",
    ),
}
# Composition cells of tests/test_matrix_composition.py (helper A adds the cmdclass ones).
REQUIRED.setdefault("composition", ())
REQUIRED["composition"] += (
    "Cython.Distutils.build_ext",
    "pybind11.setup_helpers.build_ext",
    "build_ext running its own link command",
    "own link command, setup.py build_ext --inplace",
)
# Composition cells of tests/test_plugin_cmdclass.py (the project's own build_ext).
REQUIRED["composition"] += (
    "build_ext subclass in setup.py cmdclass",
    "build_ext subclass in setup.cfg [options] cmdclass",
    "build_ext subclass in pyproject [tool.setuptools] cmdclass",
)

# Backends of tests/test_wrap_backends.py: build-backend = "setuptools_nolibpython.wrap".
SECTIONS["backends"] = (
    "`build-backend = \"setuptools_nolibpython.wrap\"` around real backends from PyPI, installed by the "
    "front-end's build isolation (cmake and ninja from PyPI too): scikit-build-core with a CMakeLists linking "
    "`Python::Python`, meson-python with `dependency('python3-embed')`, built by pyenv CPython 3.11 (shared "
    "libpython). Negative control: the same project without the wrapper ships a module that fails in Debian's "
    "python3.11 with libpython hidden."
)
REQUIRED["backends"] = (
    "scikit-build-core: on-violation = error",
    "scikit-build-core: on-violation = repair",
    "scikit-build-core: pip install -e",
    "scikit-build-core: python -m build",
    "meson-python: on-violation = error",
    "meson-python: on-violation = repair",
    "meson-python: pip install -e",
    "meson-python: uv build --wheel",
    "setuptools.build_meta as the inner backend",
)

# Debian sid's python3.14 and python3.15 (tests/test_matrix_sid.py), in the chroot that
# scripts/sid_chroot.sh makes (.ci/run makes it before the suite).
SID_SECTION = "Debian sid python3.14 / python3.15"
SECTIONS[SID_SECTION] = (
    "Debian sid's own python3.14 (3.14.10) and python3.15 (3.15.2): static executables with "
    "`libpython3.1X.so.1.0` installed beside them, in a chroot made by `scripts/sid_chroot.sh` (debootstrap). "
    "`sample_project` is built by each through build isolation, the plugin from a local wheel; every module is "
    "imported there with every libpython hidden (`tests/support/without_libpython.sh`, run in the chroot). "
    "Control: the same `pip wheel` with `SETUPTOOLS_NOLIBPYTHON=0` links libpython and then fails to import."
)
REQUIRED[SID_SECTION] = tuple(
    f"CPython {v} (Debian sid python{v}, static): {what}"
    for v in ("3.14", "3.15")
    for what in ("pip wheel, import with libpython hidden", "python -m build --wheel", "nolibpython check and repair")
)
# Python 3.15's new kinds of module (tests/test_abi3t.py), compiled and imported in the same chroot.
PY315_SECTION = "Python 3.15 modules (PEP 793, PEP 803)"
SECTIONS[PY315_SECTION] = (
    "Modules built by sid's gcc against 3.15.2's headers and judged by `nolibpython check` running on python3.15: "
    "a PEP 793 module (only `PyModExport_<name>`), and abi3t modules (PEP 803, `Py_TARGET_ABI3T`) in "
    "`cp315-abi3t` wheels. Each has a control that the check must flag."
)
REQUIRED[PY315_SECTION] = (
    "PEP 793 module (PyModExport_ only, no PyInit_)",
    "abi3t wheel, clean",
    "abi3t wheel using API outside the Stable ABI",
)

STATUS_TEXT = {
    "pass": "pass",
    "limit": "fails as documented",
    "n/a": "n/a",
    "fail": "FAIL",
    "not run": "not run",
}
LEGEND = (
    "- **pass**: the test's assertions held, including its negative control.\n"
    "- **fails as documented**: a known limit (see README, Known limits); the test asserts the exact failure.\n"
    "- **n/a**: cannot be had on this machine or from the registries; the evidence says what was looked for.\n"
    "- **not run**: a required cell that produced no result in this run (a skipped or deselected test).\n"
    "- **FAIL**: recorded as failing.\n"
)

Cell = Tuple[str, str]  # (status, detail)


class ResultsError(Exception):
    """A results file that cannot be read; the message names the file and line."""


def load(path: Path) -> Dict[str, Dict[str, Cell]]:
    """{section: {case: (status, detail)}}; a case recorded twice keeps its last record."""
    table: Dict[str, Dict[str, Cell]] = {}
    if not path.exists():
        return table
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                section, case = str(rec["section"]), str(rec["case"])
                status, detail = str(rec["status"]), str(rec.get("detail", ""))
            except (ValueError, KeyError, TypeError) as exc:
                raise ResultsError(f"{path}:{n}: not a compat record ({exc}); rerun the tests") from None
            table.setdefault(section, {})[case] = (status, detail)
    return table


def merged(results: Dict[str, Dict[str, Cell]]) -> Dict[str, Dict[str, Cell]]:
    """Results plus "not run" for required cells without one, in document order."""
    order = list(SECTIONS) + sorted(s for s in set(results) | set(REQUIRED) if s not in SECTIONS)
    out: Dict[str, Dict[str, Cell]] = {}
    for section in order:
        got = results.get(section, {})
        cells: Dict[str, Cell] = {}
        for case in REQUIRED.get(section, ()):
            cells[case] = got.get(case, ("not run", "required cell: no test recorded a result in this run"))
        for case, cell in got.items():
            cells.setdefault(case, cell)
        if cells:
            out[section] = cells
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(table: Dict[str, Dict[str, Cell]], results_path: Path, when: Optional[datetime] = None) -> str:
    when = when or datetime.now(timezone.utc)
    counts: Dict[str, int] = {}
    for cells in table.values():
        for status, _ in cells.values():
            counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{counts[s]} {STATUS_TEXT.get(s, s)}" for s in sorted(counts))
    lines: List[str] = [
        "# Compatibility",
        "",
        "<!-- Generated by scripts/gen_compat.py from the last test run; do not edit by hand. -->",
        "",
        "Every cell below was produced by a test in the last run of the suite (`make test`, or",
        "`make compat` for the matrix alone); a test records its cell only after its assertions,",
        "negative control included, have passed. Regenerate with `python scripts/gen_compat.py`.",
        "",
        f"Run: {when.strftime('%Y-%m-%d %H:%M UTC')} on {platform.system()} {platform.machine()}, "
        f"{_os_name()}; CI={os.environ.get('CI', 'unset')}. Cells: {summary or 'none'}.",
        "",
        LEGEND,
    ]
    for section, cells in table.items():
        lines += [f"## {section[:1].upper()}{section[1:]}", ""]
        if section in SECTIONS:
            lines += [SECTIONS[section], ""]
        lines += ["| case | result | evidence |", "|---|---|---|"]
        for case, (status, detail) in cells.items():
            lines.append(f"| {_cell(case)} | {STATUS_TEXT.get(status, _cell(status))} | {_cell(detail)} |")
        lines.append("")
    return "\n".join(lines)


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


_ROW_SPLIT = re.compile(r"(?<!\\)\|")


def cells_of(text: str) -> Dict[str, Set[Tuple[str, str]]]:
    """{section heading: {(case, result)}} of a rendered document: what --check compares."""
    out: Dict[str, Set[Tuple[str, str]]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            out.setdefault(section, set())
        elif section and line.startswith("| ") and not line.startswith(("| case | result |", "|---")):
            parts = [p.strip() for p in _ROW_SPLIT.split(line)[1:-1]]
            if len(parts) >= 2:
                out[section].add((parts[0], parts[1]))
    return out


def stale_cells(committed: str, fresh: str) -> List[str]:
    """One line per cell that differs between the committed document and this run's."""
    old, new = cells_of(committed), cells_of(fresh)
    lines = []
    for section in sorted(set(old) | set(new)):
        for case, result in sorted(new.get(section, set()) - old.get(section, set())):
            lines.append(f"{section}: {case}: {result} in this run")
        for case, result in sorted(old.get(section, set()) - new.get(section, set())):
            lines.append(f"{section}: {case}: {result} in the committed document")
    return lines


def write_atomically(path: Path, text: str) -> None:
    """The package's temp file + rename: a reader never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(str(path), text.encode("utf-8"), 0o644)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--output", type=Path, default=OUTPUT)
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a required cell is missing or failed, or if the cells of "
                         "--output (the committed document) differ from the results")
    args = ap.parse_args(argv)
    try:
        table = merged(load(args.results))
    except (ResultsError, OSError) as exc:
        print(f"gen_compat: {exc}", file=sys.stderr)
        return 2
    text = render(table, args.results)
    bad = [f"{s}: {c}: {st}" for s, cells in table.items() for c, (st, _) in cells.items()
           if st in ("fail", "not run")]
    count = f"{sum(len(c) for c in table.values())} cells, {len(bad)} not passing"
    if not args.check:
        write_atomically(args.output, text)
        print(f"gen_compat: wrote {args.output} ({count})")
        return 0
    try:
        stale = stale_cells(args.output.read_text(encoding="utf-8"), text)
    except OSError as exc:
        print(f"gen_compat: cannot read {args.output}: {exc.strerror}; run scripts/gen_compat.py", file=sys.stderr)
        return 2
    if bad:
        print("gen_compat: " + "\n  ".join(["cells missing or failed:", *bad]), file=sys.stderr)
    if stale:
        print("gen_compat: " + "\n  ".join([f"{args.output} is stale; run scripts/gen_compat.py "
                                             "(or make compat) and commit it:", *stale]), file=sys.stderr)
    if bad or stale:
        return 1
    print(f"gen_compat: {args.results}: {count}; {args.output} has the same cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
