"""Builds shared by the compatibility-matrix tests (test_matrix_interpreters/hosts).

One helper builds ``sample_project`` (which asks for libpython with ``libraries=`` and
``-Wl,-z,defs``) with a given interpreter through ``pip wheel``, with or without the
plugin, in its own copy of the project so builds can run side by side. A failed build is
returned, not raised, so a module-scoped batch of builds fails only the tests that use it.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from devtools.machine import DEBIAN_DEBUG_PYTHON  # noqa: F401  (re-exported for the matrix tests)

from . import REPO, libpython_needed_by_readelf, pip_wheel, readelf_dynamic, run, unpack_wheel

SAMPLE = REPO / "sample_project"
INFO_CODE = (
    "import json, sys, sysconfig; v = sysconfig.get_config_var; print(json.dumps({"
    "'version': sys.version, 'ldversion': v('LDVERSION') or v('VERSION'), 'ext_suffix': v('EXT_SUFFIX'),"
    " 'libdir': v('LIBDIR'), 'gil_disabled': bool(v('Py_GIL_DISABLED')), 'abiflags': sys.abiflags}))"
)


def interpreter_info(python: Path) -> Dict[str, object]:
    """What the interpreter says about itself (version, LDVERSION, EXT_SUFFIX, LIBDIR)."""
    out = run([str(python), "-I", "-c", INFO_CODE], check=True).stdout
    info: Dict[str, object] = json.loads(out)
    return info


def make_venv(python: Path, dest: Path) -> Path:
    """A venv with pip for an interpreter whose own pip may be absent (Debian's)."""
    run([str(python), "-m", "venv", str(dest)], check=True, timeout=300)
    return dest / "bin" / "python"


def copy_sample(dest: Path) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return dest


@dataclass
class SampleBuild:
    """One ``pip wheel`` of sample_project: the log, and the unpacked wheel when it built."""

    label: str
    enabled: bool
    proc: "CompletedProcess[str]"
    wheel: Optional[Path]
    tree: Optional[Path]

    @property
    def log(self) -> str:
        return str(self.proc.stdout) + str(self.proc.stderr)

    def extension(self) -> Path:
        """The one extension module in the wheel (asserts that the build worked)."""
        assert self.tree is not None, f"{self.label}: pip wheel failed ({self.proc.returncode}):\n{self.log[-5000:]}"
        found = sorted(self.tree.rglob("_core*.so"))
        assert len(found) == 1, f"{self.label}: expected one _core*.so in the wheel, found {found}"
        return found[0]

    def libpython_needed(self) -> List[str]:
        return libpython_needed_by_readelf(self.extension())

    def runpath(self) -> List[str]:
        dyn = readelf_dynamic(self.extension())
        return dyn["RPATH"] + dyn["RUNPATH"]


def build_sample(label: str, python: Path, work: Path, wheelhouse: Path, enabled: bool) -> SampleBuild:
    """``pip wheel`` (isolated) with the plugin forced on or off by SETUPTOOLS_NOLIBPYTHON."""
    work.mkdir(parents=True)
    project = copy_sample(work / "project")
    out = work / "dist"
    proc = pip_wheel(project, out, wheelhouse, python=python,
                     env={"SETUPTOOLS_NOLIBPYTHON": "1" if enabled else "0"})
    wheels = sorted(out.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        return SampleBuild(label, enabled, proc, None, None)
    return SampleBuild(label, enabled, proc, wheels[0], unpack_wheel(wheels[0], work / "unpacked"))


def build_pairs(jobs: Mapping[str, Path], work: Path, wheelhouse: Path,
                ) -> Dict[str, Tuple[SampleBuild, SampleBuild]]:
    """{label: (with plugin, without plugin)} for each interpreter, two builds at a time."""
    tasks: List[Tuple[str, Path, bool]] = [(label, py, on) for label, py in jobs.items() for on in (True, False)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(build_sample, label, py, work / f"{_slug(label)}-{'on' if on else 'off'}", wheelhouse, on)
            for label, py, on in tasks
        ]
        results = [f.result() for f in futures]
    pairs: Dict[str, Tuple[SampleBuild, SampleBuild]] = {}
    for (label, _, on), res in zip(tasks, results):
        on_b, off_b = pairs.get(label, (res, res))
        pairs[label] = (res, off_b) if on else (on_b, res)
    return pairs


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)


def import_code(dest: Path, checks: Sequence[str] = ()) -> str:
    """Code that imports the sample from ``dest``, proves the C function ran, and prints
    where the module came from and which runtime it sees."""
    lines = [
        "import sys",
        f"sys.path.insert(0, {str(dest)!r})",
        "import nolibpython_demo as m, nolibpython_demo._core as c",
        "assert m.add(2, 40) == 42, m.add(2, 40)",
        "assert m.runtime_version() == sys.version, (m.runtime_version(), sys.version)",
        *checks,
        "print('FILE', c.__file__)",
        "print('SUM', m.add(2, 40))",
    ]
    return "\n".join(lines)
