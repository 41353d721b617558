"""Helpers for the end-to-end plugin tests (tests/test_plugin_*.py): projects that ask
for libpython in every way a setuptools project can (libraries=, extra_link_args,
extra_objects, ``-l:``, LDFLAGS/LDSHARED), and judges of what a build produced.

Every judgement is made twice, by ``readelf -d`` (independent) and by the package's
own scanner (``scan_wheel`` / ``scan_tree``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from setuptools_nolibpython.results import ScanOptions, ScanReport
from setuptools_nolibpython.scan import scan_tree, scan_wheel

from . import libpython_needed_by_readelf, make_project, run

#: The interpreter running the tests (the .venv, pyenv 3.11) builds everything in-process
#: and is the one pip runs; its libpython is what the projects ask for.
PYTHON = Path(sys.executable)
LDVERSION: str = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
LIBDIR: str = sysconfig.get_config_var("LIBDIR")
LIBPL: str = sysconfig.get_config_var("LIBPL")
SONAME = f"libpython{LDVERSION}.so.1.0"
SHARED_LIB = f"{LIBDIR}/libpython{LDVERSION}.so"
STATIC_LIB = f"{LIBPL}/libpython{LDVERSION}.a"

#: Extensions of the "multi" project, each asking for libpython through one route;
#: ``_clean`` asks for nothing (it must stay clean either way).
MULTI_SOURCES: Dict[str, str] = {
    "_libs": "libraries=['python' + V], library_dirs=[LIBDIR]",
    "_largs": "extra_link_args=['-L' + LIBDIR, '-lpython' + V, '-Wl,-z,defs']",
    "_lspace": "extra_link_args=['-L' + LIBDIR, '-l', 'python' + V, '-Xlinker', '--no-undefined']",
    "_lcolon": "extra_link_args=['-L' + LIBDIR, '-l:libpython' + V + '.so.1.0', '-Wl,-z', '-Wl,defs']",
    "_lpath": "extra_link_args=[LIBDIR + '/libpython' + V + '.so']",
    "_objs": "extra_objects=[LIBDIR + '/libpython' + V + '.so']",
    "_clean": "",
}
#: ``extra_objects`` naming the static archive: no DT_NEEDED, a second runtime inside.
STATIC_SOURCE = "extra_objects=[LIBPL + '/libpython' + V + '.a']"
LINKING = [m for m, kw in MULTI_SOURCES.items() if kw]

SETUP_HEAD = textwrap.dedent(
    """
    import sysconfig
    from setuptools import Extension, setup
    V = sysconfig.get_config_var('LDVERSION') or sysconfig.get_config_var('VERSION')
    LIBDIR = sysconfig.get_config_var('LIBDIR')
    LIBPL = sysconfig.get_config_var('LIBPL')
    """
)


def multi_setup_py(name: str, sources: Mapping[str, str], cmdclass: str = "") -> str:
    exts = "".join(f"    Extension('{name}.{mod}', ['{name}/{mod}.c'], {kw}),\n" for mod, kw in sources.items())
    extra = f", cmdclass={cmdclass}" if cmdclass else ""
    return SETUP_HEAD + f"setup(ext_modules=[\n{exts}]{extra})\n"


def make_multi(root: Path, *, enable: Optional[bool], name: str = "multi",
               sources: Mapping[str, str] = MULTI_SOURCES, **kwargs: object) -> Path:
    """A project with one extension per libpython route (see MULTI_SOURCES)."""
    return make_project(root, name=name, enable=enable, modules=tuple(sources),
                        setup_py=multi_setup_py(name, sources), **kwargs)  # type: ignore[arg-type]


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def setup_py(project: Path, *args: str, env: Optional[Mapping[str, str]] = None,
             check: bool = True) -> subprocess.CompletedProcess:
    """``python setup.py ARGS`` in-process in the test interpreter (plugin installed there)."""
    return run([str(PYTHON), "setup.py", *args], cwd=project, env=env, check=check)


def wheel_extensions(wheel: Path, dest: Path) -> Dict[str, Path]:
    """Unpack ``wheel`` into ``dest``; {module base name: path} of its extension modules."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return {p.name.split(".")[0]: p for p in dest.rglob("*.so")}


def tree_extensions(tree: Path) -> Dict[str, Path]:
    return {p.name.split(".")[0]: p for p in tree.rglob("*.so")}


def libpython_by_module(files: Mapping[str, Path]) -> Dict[str, List[str]]:
    """readelf's verdict: {module: libpython DT_NEEDED entries}."""
    return {mod: libpython_needed_by_readelf(p) for mod, p in files.items()}


def scanner_failures(report: ScanReport) -> Dict[str, List[str]]:
    """The package scanner's verdict: {module base name: libpython DT_NEEDED entries}."""
    return {
        Path(f.path).name.split(".")[0]: [p.detail for p in f.problems if p.code == "needs-libpython"]
        for f in report.failures
    }


def scan_built_wheel(wheel: Path) -> ScanReport:
    return scan_wheel(str(wheel), ScanOptions())


def scan_built_tree(tree: Path) -> ScanReport:
    return scan_tree(str(tree), ScanOptions())


def assert_no_libpython(files: Mapping[str, Path], report: ScanReport, expected: Sequence[str]) -> None:
    """Both judges agree: every expected module is there and none needs libpython."""
    assert sorted(files) == sorted(expected), files
    assert libpython_by_module(files) == {m: [] for m in expected}
    assert not report.failed, [(f.path, f.problems) for f in report.failures]
    assert len(report.files) == len(expected)


def assert_libpython(files: Mapping[str, Path], report: ScanReport, linking: Sequence[str]) -> None:
    """Negative control: both judges see libpython in exactly the ``linking`` modules."""
    by_readelf = libpython_by_module(files)
    assert {m for m, v in by_readelf.items() if v} == set(linking), by_readelf
    assert all(v == [SONAME] for m, v in by_readelf.items() if m in linking), by_readelf
    assert scanner_failures(report) == {m: [SONAME] for m in linking}


def defines_python_runtime(path: Path) -> bool:
    """True when the file carries its own copy of the runtime (static libpython)."""
    syms = run(["nm", "-D", "--defined-only", str(path)], check=True).stdout
    return any(line.split()[-1] == "PyLong_FromLong" for line in syms.splitlines() if line.strip())


#: One finding as a build prints it (report.problem_lines): ``<file>: <label>: <what>; fix: <how>``, the
#: label being the file's verdict for an error (violation, allowed, unreadable) or "warning".
_FINDING = re.compile(r"^\s*(?:setuptools-nolibpython: )?(?P<path>\S+): "
                      r"(?P<severity>violation|unreadable|warning|allowed): "
                      r"(?P<message>.*?); fix: ")


def findings(text: str) -> Set[Tuple[str, str, str]]:
    """Every (file, severity, message) a build log reports, each once."""
    return {(m["path"], m["severity"], m["message"]) for m in map(_FINDING.match, text.splitlines()) if m}


def names_entry(message: str, entry: str) -> bool:
    """Does ``message`` name ``entry`` as a whole word (libpython3.so is not libpython3.so.1)?"""
    return re.search(r"(?<![\w.])" + re.escape(entry) + r"(?![\w.])", message) is not None


def errors_of(text: str, path: str) -> List[str]:
    """The messages of the error findings the log reports for ``path`` (exact file name)."""
    return sorted(msg for p, sev, msg in findings(text) if p == path and sev in ("violation", "unreadable"))
