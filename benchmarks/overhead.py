"""The plugin's whole cost on a real build: paired ``pip wheel`` runs with and without it.

``pip wheel --no-build-isolation sample_project`` in this interpreter, on a fresh copy of
the project each time (nothing reused from an earlier build), alternating which of the
pair goes first. "Without" is ``SETUPTOOLS_NOLIBPYTHON=0``. Each pair gives a ratio; the
median ratio is the figure. Both wheels are checked with ``readelf -d`` so the pair
really compares a build the plugin changed with one it did not.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from .measure import CommandFailedError, median, run_timed

PAIRS = 7


@dataclass(frozen=True)
class Result:
    pairs: int
    ratio: float
    with_s: float
    without_s: float

    def lines(self) -> List[str]:
        return [
            "`pip wheel --no-build-isolation --no-deps sample_project` (one C extension that asks for",
            "libpython and `-z defs`), fresh copy per build, with the plugin and with",
            f"`SETUPTOOLS_NOLIBPYTHON=0`, {self.pairs} pairs in alternating order.",
            "",
            "| with plugin s | without s | median paired ratio | overhead |",
            "|---|---|---|---|",
            f"| {self.with_s:.2f} | {self.without_s:.2f} | {self.ratio:.3f} | {(self.ratio - 1) * 100:+.1f}% |",
        ]


def _build(py: str, project: Path, work: Path, tag: str, enabled: bool) -> Tuple[float, Path]:
    proj = work / f"proj-{tag}"
    out = work / f"out-{tag}"
    shutil.rmtree(proj, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(project, proj, ignore=shutil.ignore_patterns("build", "*.egg-info", "dist", "__pycache__"))
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "SETUPTOOLS_NOLIBPYTHON": "1" if enabled else "0"}
    sample = run_timed([py, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", str(out),
                        str(proj)], env=env)
    wheels = list(out.glob("*.whl"))
    if len(wheels) != 1:
        raise CommandFailedError(f"pip wheel of {proj} produced {wheels}")
    return sample.seconds, wheels[0]


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


def measure(work: Path, py: str, project: Path) -> Result:
    work.mkdir(parents=True, exist_ok=True)
    ratios: List[float] = []
    with_t: List[float] = []
    without_t: List[float] = []
    _build(py, project, work, "warmup", True)  # page cache, pip's caches, compiled bytecode
    for i in range(PAIRS):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {}
        for enabled in order:
            got[enabled] = _build(py, project, work, "with" if enabled else "without", enabled)
        if i == 0:
            # Negative control: the build without the plugin must link libpython, or the
            # pair measures nothing the plugin does.
            if _links_libpython(got[True][1], work) or not _links_libpython(got[False][1], work):
                raise CommandFailedError("sample_project: the plugin did not change the build (libpython check)")
        with_t.append(got[True][0])
        without_t.append(got[False][0])
        ratios.append(got[True][0] / got[False][0])
    return Result(PAIRS, median(ratios), median(with_t), median(without_t))
