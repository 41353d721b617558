"""Parallel builds: `build_ext --parallel 8` over 16 extensions (threads sharing one
compiler) gives the same bytes and verdicts every time, and two projects built at once
by two processes keep their own configuration and outputs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support import make_project, readelf_needed, require

from setuptools_nolibpython.results import ScanOptions
from setuptools_nolibpython.scan import scan_tree

MODULES = tuple(f"_m{i:02d}" for i in range(16))
#: Every extension asks for libpython; the plugin must strip it from each link.
LINK_LIBPYTHON = "libraries=['python' + LDVERSION], library_dirs=[LIBDIR]"
#: -g0: no debug info, so nothing but the code and the link decide the bytes.
ENV = {"CFLAGS": "-g0"}


def build(project: Path, jobs: int) -> subprocess.Popen:
    shutil.rmtree(project / "build", ignore_errors=True)
    return subprocess.Popen(
        [sys.executable, "setup.py", "build_ext", "--parallel", str(jobs), "--build-lib", "build/lib",
         "--build-temp", "build/temp"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**{k: v for k, v in os.environ.items() if k != "SETUPTOOLS_NOLIBPYTHON"}, **ENV},
    )


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


def outputs(project: Path) -> Dict[str, Tuple[str, Tuple[str, ...]]]:
    """{module file: (sha256, DT_NEEDED by readelf)} of the built extensions."""
    res = {}
    for so in sorted((project / "build" / "lib").rglob("*.so")):
        res[so.name] = (hashlib.sha256(so.read_bytes()).hexdigest(), tuple(readelf_needed(so)))
    return res


def verdicts(project: Path) -> Dict[str, str]:
    report = scan_tree(str(project / "build" / "lib"), ScanOptions())
    return {Path(f.path).name: f.verdict for f in report.files}


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    require(shutil.which("gcc"), "gcc is needed")
    root = tmp_path_factory.mktemp("parallel")
    a = make_project(root / "alpha", name="alpha", modules=MODULES, ext_kwargs=LINK_LIBPYTHON)
    b = make_project(root / "beta", name="beta", modules=MODULES[:8], ext_kwargs=LINK_LIBPYTHON, enable=False)
    return a, b


@pytest.fixture(scope="module")
def alpha_runs(projects: Tuple[Path, Path]) -> List[Tuple[Dict[str, Tuple[str, Tuple[str, ...]]], Dict[str, str]]]:
    """Three clean builds of alpha with --parallel 8: (outputs, verdicts) of each."""
    alpha, _ = projects
    runs = []
    for _ in range(3):
        finish(build(alpha, 8))
        runs.append((outputs(alpha), verdicts(alpha)))
    return runs


def test_parallel_build_is_repeatable(alpha_runs: List[Tuple[Dict[str, Tuple[str, Tuple[str, ...]]], Dict[str, str]]]
                                      ) -> None:
    first_outputs, first_verdicts = alpha_runs[0]
    assert len(first_outputs) == 16
    assert all(not any(n.startswith("libpython") for n in needed) for _, needed in first_outputs.values())
    assert set(first_verdicts.values()) == {"clean"}
    for out, ver in alpha_runs[1:]:
        assert out == first_outputs, "parallel builds gave different bytes"
        assert ver == first_verdicts


def test_two_projects_at_once_do_not_interfere(
    projects: Tuple[Path, Path], alpha_runs: List[Tuple[Dict[str, Tuple[str, Tuple[str, ...]]], Dict[str, str]]]
) -> None:
    """alpha (plugin on) and beta (plugin off) at the same time: alpha's outputs equal a
    build of alpha alone, beta keeps libpython (its own config, not alpha's)."""
    alpha, beta = projects
    alone = alpha_runs[0][0]
    pa, pb = build(alpha, 4), build(beta, 4)
    finish(pa)
    finish(pb)
    assert outputs(alpha) == alone
    beta_out = outputs(beta)
    assert len(beta_out) == 8
    # Negative control: without the plugin every module links libpython.
    assert all(any(n.startswith("libpython") for n in needed) for _, needed in beta_out.values())
    assert set(verdicts(beta).values()) == {"violation"}
    assert set(verdicts(alpha).values()) == {"clean"}
