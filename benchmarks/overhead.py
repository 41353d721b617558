"""The plugin's fixed cost on a real build: paired ``pip wheel`` runs with and without it.

``pip wheel --no-build-isolation`` of ``sample_project`` (one C extension) and of a
project that links nothing (pure Python, plugin on), on a fresh copy of the project each
time, alternating which of the pair goes first. "Without" is ``SETUPTOOLS_NOLIBPYTHON=0``.
The figure is the field trial's: CPU time (user + system of pip and every process it
waited for, compilers included; other jobs on the machine barely move it), best of the
runs on each side, so the fixed cost is ``best with - best without``. The first pair's
wheels are checked with ``readelf -d``, so the pair really compares a build the plugin
changed with one it did not.

``importtime``: one more ``pip wheel -v`` with ``PYTHONPROFILEIMPORTTIME=1``, whose
backend processes report every import; the package's modules are listed per process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from .measure import CommandFailedError, median, run_timed

PAIRS = 7

#: A project that links nothing, with the plugin on: its build must import no ELF code.
PURE_FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "nolibpython-bench-pure"\nversion = "1.0"\n\n'
        "[tool.setuptools-nolibpython]\nenable = true\n"
    ),
    "bench_pure/__init__.py": "VALUE = 1\n",
}


@dataclass(frozen=True)
class Side:
    cpu: List[float]
    wall: List[float]

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)


@dataclass(frozen=True)
class Result:
    project: str
    pairs: int
    with_: Side
    without: Side

    @property
    def fixed_ms(self) -> float:
        return (self.with_.best_cpu - self.without.best_cpu) * 1000

    @property
    def fixed_pct(self) -> float:
        return (self.with_.best_cpu / self.without.best_cpu - 1) * 100


@dataclass(frozen=True)
class ImportRow:
    process: str
    module: str
    self_us: int
    cumulative_us: int


def table(results: List[Result]) -> List[str]:
    return [
        "`pip wheel --no-build-isolation --no-deps` on a fresh copy per build, with the plugin and",
        f"with `SETUPTOOLS_NOLIBPYTHON=0`, {results[0].pairs if results else 0} pairs in alternating order. CPU "
        "seconds are user + system of pip and every process it waited for (the backend, gcc), best of",
        "the runs on each side; the fixed cost is the difference of the two bests. sample_project",
        "builds one C extension that asks for libpython and `-z defs`; the pure project links nothing.",
        "",
        "| project | with plugin CPU s (best) | without CPU s (best) | fixed cost ms | fixed cost | "
        "with wall s (median) | without wall s (median) |",
        "|---|---|---|---|---|---|---|",
    ] + [
        f"| {r.project} | {r.with_.best_cpu:.3f} | {r.without.best_cpu:.3f} | {r.fixed_ms:+.0f} | "
        f"{r.fixed_pct:+.1f}% | {median(r.with_.wall):.2f} | {median(r.without.wall):.2f} |"
        for r in results
    ]


def import_table(rows: List[ImportRow]) -> List[str]:
    out = [
        "`-X importtime` (PYTHONPROFILEIMPORTTIME=1) of the package's modules in each backend process of",
        "one `pip wheel -v` of sample_project, in microseconds (one run: a guide to where the",
        "fixed cost goes, not a measurement to compare across runs). The activation entry point,",
        "imported in every process, is measured on its own after `import setuptools`:",
        "",
        "| process | module | self us | cumulative us |",
        "|---|---|---|---|",
    ]
    out += [f"| {r.process} | {r.module} | {r.self_us} | {r.cumulative_us} |" for r in rows]
    totals: Dict[str, int] = {}
    for r in rows:
        totals[r.process] = totals.get(r.process, 0) + r.self_us
    out += [f"| {p} | **all of the package** | {t} | |" for p, t in totals.items()]
    return out


def write_pure_project(dest: Path) -> Path:
    for rel, text in PURE_FILES.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


def _fresh(project: Path, work: Path, tag: str) -> Tuple[Path, Path]:
    proj = work / f"proj-{tag}"
    out = work / f"out-{tag}"
    shutil.rmtree(proj, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(project, proj, ignore=shutil.ignore_patterns("build", "*.egg-info", "dist", "__pycache__"))
    return proj, out


def _pip_wheel(py: str, proj: Path, out: Path, *extra: str) -> List[str]:
    return [py, "-m", "pip", "wheel", *extra, "--no-build-isolation", "--no-deps", "-w", str(out), str(proj)]


def _build(py: str, project: Path, work: Path, tag: str, enabled: bool) -> Tuple[float, float, Path]:
    proj, out = _fresh(project, work, tag)
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "SETUPTOOLS_NOLIBPYTHON": "1" if enabled else "0"}
    sample = run_timed(_pip_wheel(py, proj, out, "-q"), env=env)
    wheels = list(out.glob("*.whl"))
    if len(wheels) != 1:
        raise CommandFailedError(f"pip wheel of {proj} produced {wheels}")
    return sample.cpu_seconds, sample.seconds, wheels[0]


def _links_libpython(wheel: Path, work: Path) -> bool:
    dest = work / "unpacked"
    shutil.rmtree(dest, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    sos = list(dest.rglob("*.so"))
    if not sos:
        raise CommandFailedError(f"{wheel} holds no extension module")
    text = subprocess.run(["readelf", "-dW", *map(str, sos)], capture_output=True, text=True, check=True).stdout
    return re.search(r"\(NEEDED\).*\[libpython", text) is not None


def measure(work: Path, py: str, project: Path, name: str, pairs: int = PAIRS, control: bool = True) -> Result:
    """``pairs`` alternating pairs; ``control``: the first pair must differ in libpython."""
    work.mkdir(parents=True, exist_ok=True)
    cpu: Dict[bool, List[float]] = {True: [], False: []}
    wall: Dict[bool, List[float]] = {True: [], False: []}
    _build(py, project, work, "warmup", True)  # page cache, pip's caches, compiled bytecode
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {}
        for enabled in order:
            got[enabled] = _build(py, project, work, "with" if enabled else "without", enabled)
            cpu[enabled].append(got[enabled][0])
            wall[enabled].append(got[enabled][1])
        if i == 0 and control:
            # Negative control: the build without the plugin must link libpython, or the
            # pair measures nothing the plugin does.
            if _links_libpython(got[True][2], work) or not _links_libpython(got[False][2], work):
                raise CommandFailedError(f"{name}: the plugin did not change the build (libpython check)")
    return Result(name, pairs, Side(cpu[True], wall[True]), Side(cpu[False], wall[False]))


_HOOK = re.compile(r"Running command (?P<what>.+)$")
_IMPORT = re.compile(r"import time:\s+(?P<self>\d+) \|\s+(?P<cum>\d+) \|(?P<indent>\s*)(?P<module>\S+)")


def importtime(work: Path, py: str, project: Path, package: str = "setuptools_nolibpython") -> List[ImportRow]:
    """The package's import times in each backend process of one verbose build."""
    proj, out = _fresh(project, work, "importtime")
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "SETUPTOOLS_NOLIBPYTHON": "1", "PYTHONPROFILEIMPORTTIME": "1"}
    import os

    proc = subprocess.run(_pip_wheel(py, proj, out, "-v"), env={**os.environ, **env}, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise CommandFailedError(f"pip wheel -v of {proj} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    rows: List[ImportRow] = []
    process = ""
    for line in (proc.stdout + proc.stderr).splitlines():
        hook = _HOOK.search(line)
        if hook:
            process = hook["what"].strip()
            continue
        m = _IMPORT.search(line)
        if process and m and (m["module"] == package or m["module"].startswith(package + ".")):
            rows.append(ImportRow(process, m["module"], int(m["self"]), int(m["cum"])))
    if not rows:
        raise CommandFailedError("pip wheel -v with PYTHONPROFILEIMPORTTIME=1 showed no import of the plugin")
    # The entry point is imported where the backend's stderr does not reach pip's log: its
    # own row, measured the way setuptools loads it (setuptools first).
    probe = subprocess.run([py, "-X", "importtime", "-c", f"import setuptools, {package}.activation"],
                           capture_output=True, text=True)
    for line in probe.stderr.splitlines():
        m = _IMPORT.search(line)
        if m and (m["module"] == package or m["module"].startswith(package + ".")):
            rows.append(ImportRow("entry point (import setuptools, then the plugin's activation)", m["module"],
                                  int(m["self"]), int(m["cum"])))
    return rows
