"""Shared helpers for the test suite: real builds, real interpreters, real ELF files.

Everything here runs real tools (gcc through pip, readelf, interpreters); nothing is
mocked. ``require`` turns a missing environment into a skip on a developer box and a
failure under CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # tests/ alone on the path (benchmarks/, a nested pytest): devtools/ is at the top
    sys.path.append(str(REPO))

from devtools.machine import (  # noqa: E402
    DEBIAN_PYTHON,  # noqa: F401  (re-exported for the tests)
    find_links_dirs,
    pyenv_pythons,  # noqa: F401
    pyenv_root,
    torch_wheel,
)

SUPPORT = Path(__file__).resolve().parent
WITHOUT_LIBPYTHON = SUPPORT / "without_libpython.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"
PYENV_ROOT = pyenv_root()


#: How a skip reason names the Debian packages that would let the test run. ``require``
#: writes it; tests/conftest.py reads it back from every skip to print, at the end of the
#: run, one line with the command that installs them all.
APT_HINT = re.compile(r"\(apt-get install ([a-z0-9][a-z0-9.+-]*(?: [a-z0-9][a-z0-9.+-]*)*)\)")


def require(condition: object, reason: str, *, apt: Sequence[str] = ()) -> None:
    """Skip when ``condition`` is false, except under CI=true where that is a failure.

    ``apt`` names the Debian packages that provide what is missing; they are added to the
    reason as ``(apt-get install a b)`` for the end-of-run summary (APT_HINT).
    """
    if condition:
        return
    if apt:
        reason = f"{reason} (apt-get install {' '.join(apt)})"
    if IN_CI:
        pytest.fail(f"required environment missing under CI=true: {reason}")
    pytest.skip(reason)


def run(argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
        check: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command, capture text output; on ``check`` failure show the output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(list(map(str, argv)), env=full_env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed ({proc.returncode}): {' '.join(map(str, argv))}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def readelf_dynamic(path: Path) -> Dict[str, List[str]]:
    """DT_NEEDED, RPATH and RUNPATH as ``readelf -d`` prints them (independent judge)."""
    out = run(["readelf", "-dW", str(path)], check=True).stdout
    res: Dict[str, List[str]] = {"NEEDED": [], "RPATH": [], "RUNPATH": []}
    for m in re.finditer(r"\((NEEDED|RPATH|RUNPATH)\)\s+\S.*?\[(.*)\]", out):
        res[m[1]].append(m[2])
    return res


def readelf_needed(path: Path) -> List[str]:
    return readelf_dynamic(path)["NEEDED"]


def libpython_needed_by_readelf(path: Path) -> List[str]:
    return [n for n in readelf_needed(path) if re.match(r"libpython", os.path.basename(n))]


def wheel_members(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def unpack_wheel(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return dest


def extension_files(tree: Path) -> List[Path]:
    return sorted(p for p in tree.rglob("*.so") if p.is_file())


DEFAULT_C = textwrap.dedent(
    """
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
    static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&mod); }
    """
)


def make_project(
    root: Path,
    *,
    name: str = "probe",
    setup_py: Optional[str] = None,
    ext_kwargs: str = "",
    enable: Optional[bool] = True,
    table_extra: str = "",
    pyproject_extra: str = "",
    requires: Sequence[str] = ("setuptools>=61", "setuptools-nolibpython"),
    backend: str = "setuptools.build_meta",
    modules: Sequence[str] = ("_ext",),
    extra_files: Optional[Mapping[str, str]] = None,
) -> Path:
    """Write a small package ``name`` with C extensions ``name.<module>``.

    ``ext_kwargs`` is pasted into each Extension(...) call (e.g. ``libraries=[...]``);
    ``setup_py`` replaces the whole setup.py. ``enable=None`` writes no plugin table.
    """
    root.mkdir(parents=True, exist_ok=True)
    pkg = root / name
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    for mod in modules:
        (pkg / f"{mod}.c").write_text(DEFAULT_C % {"name": mod})
    table = ""
    if enable is not None or table_extra:
        table = "[tool.setuptools-nolibpython]\n"
        if enable is not None:
            table += f"enable = {'true' if enable else 'false'}\n"
        table += table_extra
    reqs = ", ".join(f'"{r}"' for r in requires)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = [{reqs}]\nbuild-backend = "{backend}"\n\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n\n'
        f"[tool.setuptools]\npackages = [\"{name}\"]\n\n{pyproject_extra}\n{table}"
    )
    if setup_py is None:
        exts = ",\n        ".join(
            f'Extension("{name}.{mod}", ["{name}/{mod}.c"], {ext_kwargs})' for mod in modules
        )
        setup_py = (
            "import sysconfig\nfrom setuptools import Extension, setup\n"
            "LDVERSION = sysconfig.get_config_var('LDVERSION') or sysconfig.get_config_var('VERSION')\n"
            "LIBDIR = sysconfig.get_config_var('LIBDIR')\n"
            f"setup(ext_modules=[\n        {exts}\n])\n"
        )
    (root / "setup.py").write_text(setup_py)
    for rel, text in (extra_files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def pip_wheel(
    project: Path,
    out: Path,
    wheelhouse: Path,
    *,
    python: Path = Path(sys.executable),
    isolation: bool = True,
    env: Optional[Mapping[str, str]] = None,
) -> subprocess.CompletedProcess:
    """``pip wheel -v`` of ``project`` into ``out``; the plugin comes from ``wheelhouse``."""
    argv = [str(python), "-m", "pip", "wheel", "-v", "--no-deps", "--find-links", str(wheelhouse),
            "-w", str(out), str(project)]
    if not isolation:
        argv.insert(4, "--no-build-isolation")
    shutil.rmtree(project / "build", ignore_errors=True)
    return run(argv, env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", **(env or {})})


def built_wheel(out: Path) -> Path:
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {wheels}"
    return wheels[0]


def import_from_wheel(python: Path, wheel: Path, dest: Path, code: str, *, without_libpython: bool = False,
                      ) -> subprocess.CompletedProcess:
    """Unpack ``wheel`` into ``dest`` and run ``code`` with it first on sys.path."""
    unpack_wheel(wheel, dest)
    argv = [str(python), "-I", "-c", f"import sys; sys.path.insert(0, {str(dest)!r}); " + code]
    if without_libpython:
        argv = [str(WITHOUT_LIBPYTHON)] + argv
    return run(argv)


# ---------------------------------------------------------------- real wheels from PyPI
CACHE = REPO / ".cache"
WHEEL_CACHE = CACHE / "wheels"

#: The corpus of real wheels (cp311, manylinux x86_64). Pinned so runs compare.
CORPUS = {
    "numpy": "2.2.6",
    "scipy": "1.16.3",
    "lxml": "6.0.2",
    "pillow": "12.0.0",
    "grpcio": "1.85.1",
}


def download_wheel(project: str, version: Optional[str] = None) -> Path:
    """A cp311 manylinux x86_64 wheel of ``project`` from the index, cached in .cache/wheels."""
    version = version or CORPUS.get(project)
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    norm = project.replace("-", "_").lower()
    hits = [p for p in WHEEL_CACHE.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version or ''}")]
    if hits:
        return sorted(hits)[-1]
    spec = f"{project}=={version}" if version else project
    proc = run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
                "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                "--platform", "manylinux2014_x86_64", "-d", str(WHEEL_CACHE), spec])
    hits = [p for p in WHEEL_CACHE.glob("*.whl") if p.name.lower().startswith(f"{norm}-")]
    require(hits, f"cannot download {spec} from the package index: {proc.stderr[-500:]}")
    return sorted(hits)[-1]


def corpus_wheel(name: str) -> Path:
    """A corpus wheel by name: "torch" from pip's find-links dir, the rest from the index."""
    if name == "torch":
        wheel = torch_wheel()
        if wheel is None:
            dirs = find_links_dirs()
            # An extra: a machine without a find-links directory skips. One whose pip
            # find-links is set up (these machines, CI) should hold the wheel: under
            # CI=true its absence is a failure.
            require(not dirs, f"no torch-*.whl in pip's find-links ({', '.join(map(str, dirs))})")
            pytest.skip("pip has no find-links directory on this machine, so no torch wheel")
        return wheel
    return download_wheel(name)


# ---------------------------------------------------------------- compatibility table
#: NOLIBPYTHON_COMPAT_RESULTS moves it (e.g. to keep two concurrent local runs apart).
COMPAT_RESULTS = Path(os.environ.get("NOLIBPYTHON_COMPAT_RESULTS") or CACHE / "compat" / "results.jsonl")


def record_compat(section: str, case: str, status: str, detail: str = "") -> None:
    """Record one cell of docs/compatibility.md (status: pass, fail, n/a); tests call this
    after their assertions, so a recorded pass is a passed test."""
    import json

    COMPAT_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(COMPAT_RESULTS, "a") as f:
        f.write(json.dumps({"section": section, "case": case, "status": status, "detail": detail}) + "\n")


# ---------------------------------------------------------------- build-matrix helpers
#: Extension(...) arguments that ask for libpython the way many real projects do.
ASKS_FOR_LIBPYTHON = 'libraries=["python"+LDVERSION], library_dirs=[LIBDIR], extra_link_args=["-Wl,-z,defs"]'


def in_parallel(*calls: Callable[[], Any]) -> List[Any]:
    """Run independent builds (a case and its negative control) on two threads; results in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


def pip_env_find_links(*dirs: Path) -> Dict[str, str]:
    """PIP_FIND_LINKS with ``dirs`` first, keeping what pip already uses (for front-ends that
    run pip themselves, e.g. ``python -m build``)."""
    keep = os.environ.get("PIP_FIND_LINKS", "").split() + [str(d) for d in find_links_dirs()]
    return {"PIP_FIND_LINKS": " ".join(dict.fromkeys([str(d) for d in dirs] + keep))}


def import_and_locate(python: Path, path_setup: str, modules: Sequence[str], *, cwd: Optional[Path] = None,
                      ) -> List[Path]:
    """Import each module (each must answer 42) and return the file each was loaded from, so
    readelf judges exactly what was imported. ``path_setup`` is code that fixes sys.path."""
    code = (
        f"{path_setup}\nimport importlib\nfor n in {list(modules)!r}:\n    m = importlib.import_module(n)\n"
        "    assert m.answer() == 42, n\n    print('FILE', m.__file__)\n"
    )
    proc = run([str(python), "-I", "-c", code], cwd=cwd)
    assert proc.returncode == 0, f"import failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    files = [Path(line[5:]) for line in proc.stdout.splitlines() if line.startswith("FILE ")]
    assert len(files) == len(modules), proc.stdout
    return files


# ---------------------------------------------------------------- uv
def uv_command() -> str:
    """The uv beside this interpreter (the dev venv's) or on PATH; required under CI."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    require(found, "uv is not installed (requirements-dev.txt lists it; it comes from PyPI)")
    assert found is not None
    return found


def uv_index_args() -> List[str]:
    """The indexes pip is configured with, handed to uv (which does not read pip's config)."""
    out = run([sys.executable, "-m", "pip", "config", "list"]).stdout
    args: List[str] = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        urls = value.strip().strip("'\"").split()
        if key.endswith(".index-url") and urls:
            args += ["--default-index", urls[0]]
        elif key.endswith(".extra-index-url"):
            for url in urls:
                args += ["--index", url]
    return args


# ---------------------------------------------------------------- processes
def pids_with_arg(text: str) -> List[int]:
    """Processes whose command line mentions ``text`` (a test's private directory or config)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmd:
                pids.append(int(d.name))
    return pids


#: A one-function extension module: ``answer()`` returns ``%(value)s``, after ``%(decl)s``.
MODULE_C = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
%(decl)s
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(%(value)s); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};
PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&mod); }
"""

