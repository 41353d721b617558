"""The wrapper backend's cost on a real scikit-build-core build, with and without it.

One C module built by CMake through scikit-build-core, ``pip wheel --no-build-isolation``
in the bench venv (scikit-build-core from the package index, the system's cmake and
ninja). "without": ``build-backend = "scikit_build_core.build"``; "with":
``build-backend = "setuptools_nolibpython.wrap"`` naming it. Two modules:

- ``clean``: linked to ``Python::Module`` (no libpython): the wrapper reads the wheel once
  and hands it over as it is;
- ``repair``: linked to ``Python::Python`` with ``on-violation = "repair"``: the wrapper
  judges the wheel as the fix would leave it, then writes the repaired wheel once.

Pairs alternate; CPU time, best of the runs per side (as benchmarks/overhead.py).
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

from .measure import CommandFailedError, run_timed
from .overhead import Result, Side

PAIRS = 5

_C = textwrap.dedent(
    """
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
    static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
    PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
    """
)
_CMAKE = textwrap.dedent(
    """
    cmake_minimum_required(VERSION 3.15...3.31)
    project(${SKBUILD_PROJECT_NAME} LANGUAGES C)
    find_package(Python COMPONENTS Interpreter %(component)s REQUIRED)
    add_library(_ext MODULE src/_ext.c)
    set_target_properties(_ext PROPERTIES PREFIX "" SUFFIX ".${Python_SOABI}${CMAKE_SHARED_MODULE_SUFFIX}")
    target_link_libraries(_ext PRIVATE %(target)s)
    install(TARGETS _ext DESTINATION ${SKBUILD_PROJECT_NAME})
    """
)
CASES = {
    "clean": ("Development.Module", "Python::Module", "error"),
    "repair": ("Development", "Python::Python", "repair"),
}


def make_project(root: Path, case: str, wrapped: bool) -> Path:
    component, target, mode = CASES[case]
    shutil.rmtree(root, ignore_errors=True)
    (root / "src" / "bbench").mkdir(parents=True)
    (root / "src" / "_ext.c").write_text(_C)
    (root / "src" / "bbench" / "__init__.py").write_text("")
    (root / "CMakeLists.txt").write_text(_CMAKE % {"component": component, "target": target})
    backend = "setuptools_nolibpython.wrap" if wrapped else "scikit_build_core.build"
    table = (f'[tool.setuptools-nolibpython]\nbackend = "scikit_build_core.build"\non-violation = "{mode}"\n'
             if wrapped else "")
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["scikit-build-core"]\nbuild-backend = "{backend}"\n\n'
        '[project]\nname = "bbench"\nversion = "1.0"\n\n'
        '[tool.scikit-build]\nwheel.packages = ["src/bbench"]\n\n' + table
    )
    return root


def _build(py: str, work: Path, case: str, wrapped: bool) -> Tuple[float, float]:
    tag = f"{case}-{'with' if wrapped else 'without'}"
    proj = make_project(work / f"proj-{tag}", case, wrapped)
    out = work / f"out-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    sample = run_timed([py, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", str(out),
                        str(proj)], env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if len(list(out.glob("*.whl"))) != 1:
        raise CommandFailedError(f"pip wheel of {proj} produced no single wheel")
    return sample.cpu_seconds, sample.seconds


def measure(work: Path, py: str, pairs: int = PAIRS) -> List[Result]:
    out: List[Result] = []
    for case in CASES:
        work.mkdir(parents=True, exist_ok=True)
        cpu: Dict[bool, List[float]] = {True: [], False: []}
        wall: Dict[bool, List[float]] = {True: [], False: []}
        _build(py, work, case, True)  # warm-up
        for i in range(pairs):
            for wrapped in ((True, False) if i % 2 == 0 else (False, True)):
                c, w = _build(py, work, case, wrapped)
                cpu[wrapped].append(c)
                wall[wrapped].append(w)
        out.append(Result(f"scikit-build-core, {case}", pairs, Side(cpu[True], wall[True]),
                          Side(cpu[False], wall[False])))
    return out


def table(results: List[Result]) -> List[str]:
    head = [
        "`pip wheel --no-build-isolation` of one CMake-built C module through scikit-build-core,",
        "with `build-backend = \"setuptools_nolibpython.wrap\"` and without it (scikit-build-core",
        f"alone), {results[0].pairs if results else 0} alternating pairs; CPU seconds, best of the runs per side.",
        "clean: `Python::Module`, the wheel is read once and handed over; repair: `Python::Python`",
        "with on-violation = \"repair\", the wheel is judged as fixed from that read, then written once.",
        "",
        "| build | with wrapper CPU s (best) | without CPU s (best) | wrapper cost ms | wrapper cost |",
        "|---|---|---|---|---|",
    ]
    return head + [
        f"| {r.project} | {r.with_.best_cpu:.3f} | {r.without.best_cpu:.3f} | {r.fixed_ms:+.0f} | "
        f"{r.fixed_pct:+.1f}% |"
        for r in results
    ]
