"""``build-backend = "setuptools_nolibpython.wrap"`` around real backends from PyPI.

scikit-build-core (a CMakeLists that links ``Python::Python``) and meson-python (a
meson.build with ``dependency('python3-embed')``) are installed by each front-end's own
build isolation (cmake and ninja from PyPI too), with the plugin from the ``wheelhouse``
fixture. Built by the test interpreter (pyenv CPython 3.11, shared libpython), so the
link really gets libpython:

- error mode: the build fails naming the module, and no wheel is left;
- repair mode: the wheel has no libpython, installs into a venv of Debian's static
  python3.11 and imports there with every libpython hidden;
- control: the same project without the wrapper ships a module that needs libpython and
  fails there with the seed's ImportError.

The builds are shared between asserts through module-scoped fixtures (each real build
costs CPU); the configuration errors are driven through pyproject_hooks, the library
pip and build call hooks with, in a subprocess, without an isolated environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from support import (
    ASKS_FOR_LIBPYTHON,
    DEBIAN_PYTHON,
    DEFAULT_C,
    PYENV_ROOT,
    WITHOUT_LIBPYTHON,
    find_links_dirs,
    import_from_wheel,
    in_parallel,
    libpython_needed_by_readelf,
    make_project,
    pip_env_find_links,
    readelf_dynamic,
    record_compat,
    require,
    run,
    unpack_wheel,
    uv_command,
    uv_index_args,
)
from support.backend_hooks import PYTHON, TABLE, _hook, _wrapped

from setuptools_nolibpython.results import ScanOptions
from setuptools_nolibpython.scan import scan_wheel

SECTION = "backends"
LDVERSION = sysconfig.get_config_var("LDVERSION")
SONAME = f"libpython{LDVERSION}.so.1.0"
EXT = f"_ext{sysconfig.get_config_var('EXT_SUFFIX')}"
SEED_ERROR = f"ImportError: {SONAME}: cannot open shared object file"
PKG_CONFIG_DIR = Path(str(sysconfig.get_config_var("LIBPC") or ""))

# ---------------------------------------------------------------- the projects
@dataclass(frozen=True)
class Backend:
    label: str  # as in the compat table
    module: str  # PEP 517 name
    requires: Tuple[str, ...]
    files: Dict[str, str]


CMAKELISTS = textwrap.dedent(
    """
    cmake_minimum_required(VERSION 3.15...3.31)
    project(${SKBUILD_PROJECT_NAME} LANGUAGES C)
    # Development (not Development.Module) also finds the embedding library, and
    # Python::Python links it: the mistake the wrapper is for.
    find_package(Python COMPONENTS Interpreter Development REQUIRED)
    add_library(_ext MODULE src/_ext.c)
    set_target_properties(_ext PROPERTIES PREFIX "" SUFFIX ".${Python_SOABI}${CMAKE_SHARED_MODULE_SUFFIX}")
    target_link_libraries(_ext PRIVATE Python::Python)
    install(TARGETS _ext DESTINATION ${SKBUILD_PROJECT_NAME})
    """
)
MESON_BUILD = textwrap.dedent(
    """
    project('{name}', 'c')
    py = import('python').find_installation(pure: false)
    # python3-embed (pkg-config) links libpython: the mistake the wrapper is for.
    embed = dependency('python3-embed')
    py.extension_module('_ext', 'src/_ext.c', dependencies: [embed], install: true, subdir: '{name}')
    py.install_sources('{name}/__init__.py', subdir: '{name}')
    """
)
BACKENDS = {
    "skbuild": Backend("scikit-build-core", "scikit_build_core.build",
                       ("scikit-build-core", "cmake", "ninja"), {"CMakeLists.txt": CMAKELISTS}),
    "meson": Backend("meson-python", "mesonpy", ("meson-python", "ninja"), {"meson.build": MESON_BUILD}),
}


def make_backend_project(root: Path, kind: str, mode: Optional[str], name: str = "bprobe") -> Path:
    """A package ``name`` with one C module ``name._ext`` that links libpython.

    ``mode`` None is the control (the backend alone); otherwise the wrapper with
    ``on-violation = mode``.
    """
    b = BACKENDS[kind]
    root.mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "_ext.c").write_text(DEFAULT_C % {"name": "_ext"})
    pkg = root / ("src" if kind == "skbuild" else ".") / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    for rel, text in b.files.items():
        (root / rel).write_text(text.replace("{name}", name))
    requires = list(b.requires)
    table = ""
    if mode is None:
        build_backend = b.module
    else:
        build_backend = "setuptools_nolibpython.wrap"
        requires.append("setuptools-nolibpython")
        table = f'[tool.setuptools-nolibpython]\nbackend = "{b.module}"\non-violation = "{mode}"\n'
    extra = ""
    if kind == "skbuild":
        extra = f'[tool.scikit-build]\nwheel.packages = ["src/{name}"]\n'
    reqs = ", ".join(f'"{r}"' for r in requires)
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = [{reqs}]\nbuild-backend = "{build_backend}"\n\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n\n{extra}\n{table}'
    )
    return root


def build_env(wheelhouse: Path) -> Dict[str, str]:
    """pip (and build, through pip) find the plugin in ``wheelhouse``; meson's pkg-config
    finds the building interpreter's python3-embed.pc, as on a pyenv or conda machine."""
    return {**pip_env_find_links(wheelhouse), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PKG_CONFIG_PATH": str(PKG_CONFIG_DIR)}


def _requirements() -> None:
    require(sysconfig.get_config_var("Py_ENABLE_SHARED") and sys.version_info[:2] == (3, 11),
            "the tests build with pyenv's shared CPython 3.11 (the .venv's interpreter)")
    require(DEBIAN_PYTHON.exists(), f"Debian's {DEBIAN_PYTHON} (apt install python3.11)")
    require(shutil.which("pkg-config"), "pkg-config (apt install pkg-config): meson's dependency('python3-embed')")
    require((PKG_CONFIG_DIR / "python3-embed.pc").exists(), f"python3-embed.pc in {PKG_CONFIG_DIR}")


@dataclass
class Build:
    project: Path
    out: Path
    log: str
    returncode: int
    seconds: float

    @property
    def wheels(self) -> List[Path]:
        return sorted(self.out.glob("*.whl"))

    @property
    def wheel(self) -> Path:
        assert len(self.wheels) == 1, f"expected one wheel in {self.out}:\n{self.log[-5000:]}"
        return self.wheels[0]


def pip_wheel_build(root: Path, kind: str, mode: Optional[str], wheelhouse: Path) -> Build:
    project = make_backend_project(root / "project", kind, mode)
    out = root / "out"
    start = time.monotonic()
    proc = run([PYTHON, "-m", "pip", "wheel", "-v", "--no-deps", "-w", out, project], env=build_env(wheelhouse))
    return Build(project, out, proc.stdout + proc.stderr, proc.returncode, time.monotonic() - start)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Dict[Tuple[str, Optional[str]], Build]:
    """{(backend, mode): Build} of ``pip wheel`` for error, repair and control, both backends."""
    _requirements()
    root = tmp_path_factory.mktemp("backends")
    keys = [(kind, mode) for kind in BACKENDS for mode in ("error", "repair", None)]
    results: Dict[Tuple[str, Optional[str]], Build] = {}
    for pair in zip(keys[0::2], keys[1::2]):
        done = in_parallel(*[
            (lambda k=k: pip_wheel_build(root / f"{k[0]}-{k[1] or 'control'}", k[0], k[1], wheelhouse))
            for k in pair
        ])
        results.update(zip(pair, done))
    for (kind, mode), b in results.items():
        print(f"build time: {kind} {mode or 'control'}: {b.seconds:.1f} s")
    return results


@pytest.fixture(scope="module")
def debian_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of Debian's static python3.11 (no pip inside: the test's pip installs into it)."""
    _requirements()
    venv = tmp_path_factory.mktemp("debian-venv") / "venv"
    run([DEBIAN_PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    return venv / "bin" / "python"


def tools_used(log: str) -> str:
    """The backend's and its build tool's versions, as the isolated build printed them."""
    found = re.search(r"scikit-build-core (\S+) using CMake (\S+)", log)
    if found:
        return f"scikit-build-core {found[1]}, CMake {found[2]}"
    meson = re.search(r"The Meson build system\s+Version: (\S+)", log)
    ninja = re.search(r"Found ninja-(\S+) at (\S+)", log)
    return f"meson {meson[1] if meson else '?'}, ninja {ninja[1] if ninja else '?'}"


def _members_so(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as zf:
        return [n for n in zf.namelist() if n.endswith(".so")]


# ---------------------------------------------------------------- error, repair, control
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BACKENDS))
def test_error_mode_fails_naming_the_module(kind: str, builds: Dict[Tuple[str, Optional[str]], Build]) -> None:
    b = builds[(kind, "error")]
    assert b.returncode != 0, f"{kind}: the build passed:\n{b.log[-4000:]}"
    member = f"bprobe/{EXT}"
    assert f"{member}: violation: needs {SONAME} (DT_NEEDED)" in b.log, b.log[-4000:]
    assert "error: setuptools-nolibpython: checked 1 ELF file in " in b.log
    hint = "Python::Module" if kind == "skbuild" else "py.dependency()"
    assert hint in b.log, "the backend's own fix is not named"
    # The backend's fix comes first, and setuptools' places (libraries=, LDFLAGS) are not named.
    (line,) = [ln for ln in b.log.splitlines() if f"{member}: violation: needs {SONAME}" in ln]
    fix = line.split("; fix: ", 1)[1]
    assert fix.startswith("CMake:" if kind == "skbuild" else "meson:") and "libraries=" not in fix, line
    assert b.wheels == [], f"{kind}: a wheel was left: {b.wheels}"
    assert not b.out.exists() or sorted(p.name for p in b.out.iterdir()) == [], list(b.out.iterdir())
    # The same project and backend, without the wrapper: the module does need libpython (control below).
    control = builds[(kind, None)]
    record_compat(SECTION, f"{BACKENDS[kind].label}: on-violation = error", "pass",
                  f"pip wheel fails naming {member} ({SONAME}); no .whl left; build {b.seconds:.0f} s; "
                  f"without the wrapper the wheel ships it ({control.wheel.name})")


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BACKENDS))
def test_repair_mode_imports_without_libpython(kind: str, builds: Dict[Tuple[str, Optional[str]], Build],
                                               debian_venv: Path, tmp_path: Path) -> None:
    b = builds[(kind, "repair")]
    assert b.returncode == 0, b.log[-5000:]
    wheel = b.wheel
    assert f"bprobe/{EXT}: repaired: removed DT_NEEDED {SONAME}" in b.log
    assert not scan_wheel(str(wheel), ScanOptions()).failed
    tree = unpack_wheel(wheel, tmp_path / "unpacked")
    so = tree / "bprobe" / EXT
    dyn = readelf_dynamic(so)
    assert libpython_needed_by_readelf(so) == [], dyn
    assert not [e for e in dyn["RUNPATH"] + dyn["RPATH"] if str(PYENV_ROOT) in e], dyn
    # Installs into a venv of Debian's static python3.11, imports there with libpython hidden.
    run([PYTHON, "-m", "pip", "--python", debian_venv, "install", "--no-deps", "--no-index", "--force-reinstall",
         wheel], check=True)
    proc = run([WITHOUT_LIBPYTHON, debian_venv, "-I", "-c",
                "import bprobe._ext as m; print(m.answer(), m.__file__)"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer, path = proc.stdout.split()
    if kind == "meson":  # the build tools came from the build's own isolation (PyPI), not the system
        assert re.search(r"Found ninja-\S+ at \S*pip-build-env", b.log), tools_used(b.log)
    assert answer == "42" and path.startswith(str(debian_venv.parent.parent)), proc.stdout
    # Control: without the wrapper the module needs libpython and fails there with the seed's error.
    control = builds[(kind, None)]
    assert control.returncode == 0, control.log[-4000:]
    assert "setuptools-nolibpython" not in control.log
    csos = _members_so(control.wheel)
    ctree = unpack_wheel(control.wheel, tmp_path / "control")
    assert libpython_needed_by_readelf(ctree / csos[0]) == [SONAME]
    cproc = import_from_wheel(DEBIAN_PYTHON, control.wheel, tmp_path / "control-import",
                              "import bprobe._ext", without_libpython=True)
    assert cproc.returncode != 0 and SEED_ERROR in cproc.stderr, cproc.stderr[-2000:]
    record_compat(SECTION, f"{BACKENDS[kind].label}: on-violation = repair", "pass",
                  f"pip wheel ({tools_used(b.log)}): DT_NEEDED {SONAME} removed, "
                  f"RUNPATH {dyn['RUNPATH'] or 'none'}; imports in a venv of "
                  f"Debian's python3.11 with libpython hidden; build {b.seconds:.0f} s; without the wrapper: "
                  f"{SEED_ERROR}")


@pytest.mark.slow
def test_warn_and_allow_on_a_backend_wheel(builds: Dict[Tuple[str, Optional[str]], Build], tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """``warn`` and ``allow`` mean what they mean on the setuptools path, on the control's
    real CMake-built wheel (the one that needs libpython), checked as the wrapper does."""
    from setuptools_nolibpython.config import Config
    from setuptools_nolibpython.enforce import ViolationError, enforce_wheel

    control = builds[("skbuild", None)].wheel
    member = f"bprobe/{EXT}"

    def fresh(name: str) -> Path:
        (tmp_path / name).mkdir()
        return Path(shutil.copy2(control, tmp_path / name / control.name))

    with pytest.raises(ViolationError, match=f"{member}: violation: needs {SONAME}"):
        enforce_wheel(str(fresh("error")), Config(enable=True))  # negative control
    warned = fresh("warn")
    before = warned.read_bytes()
    with caplog.at_level("INFO", logger="setuptools_nolibpython"):
        report = enforce_wheel(str(warned), Config(enable=True, on_violation="warn", strip_rpath=False))
    assert report.failed and warned.read_bytes() == before
    assert any(r.levelname == "WARNING" and f"{member}: violation: needs {SONAME}" in r.getMessage()
               for r in caplog.records)
    allowed = fresh("allow")
    report = enforce_wheel(str(allowed), Config(enable=True, on_violation="repair", allow=("bprobe/*.so",)))
    assert not report.failed and [f.verdict for f in report.files] == ["allowed"]
    tree = unpack_wheel(allowed, tmp_path / "allowed-tree")
    assert libpython_needed_by_readelf(tree / member) == [SONAME]  # repair left the allowed file alone


# ---------------------------------------------------------------- editable (PEP 660)
@pytest.fixture(scope="module")
def dev_venv(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """pyenv 3.11 venv with meson-python, ninja and the plugin: meson-python's editable
    wheels rebuild at import with the build environment's ninja, so they are installed
    with --no-build-isolation (meson-python's documented way). scikit-build-core's
    editable install uses the build's own isolation, like the other tests."""
    _requirements()
    venv = tmp_path_factory.mktemp("dev-venv") / "venv"
    base = Path(sysconfig.get_config_var("BINDIR")) / "python3"
    run([base, "-m", "venv", venv], check=True)
    py = venv / "bin" / "python"
    run([py, "-m", "pip", "install", "-q", "--find-links", wheelhouse, "setuptools-nolibpython",
         "ninja", "meson-python"], env=build_env(wheelhouse), check=True)
    return py


def _editable(root: Path, kind: str, mode: str, py: Path, wheelhouse: Path) -> Tuple[Path, str, int, float]:
    project = make_backend_project(root / "project", kind, mode)
    env = {**build_env(wheelhouse), "PATH": f"{py.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.monotonic()
    isolation = ["--no-build-isolation"] if kind == "meson" else []
    proc = run([py, "-m", "pip", "install", "-v", "--no-deps", *isolation, "-e", project], env=env)
    return project, proc.stdout + proc.stderr, proc.returncode, time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BACKENDS))
def test_editable(kind: str, dev_venv: Path, tmp_path: Path, wheelhouse: Path) -> None:
    (_, elog, erc, _), (project, log, rc, secs) = in_parallel(
        lambda: _editable(tmp_path / "error", kind, "error", dev_venv, wheelhouse),
        lambda: _editable(tmp_path / "repair", kind, "repair", dev_venv, wheelhouse),
    )
    # Error mode: the editable build fails naming the module it would load.
    assert erc != 0, elog[-4000:]
    assert f"{EXT}: violation: needs {SONAME} (DT_NEEDED)" in elog, elog[-4000:]
    # Repair mode: what the editable install imports has no libpython.
    assert rc == 0, log[-5000:]
    proc = run([dev_venv, "-I", "-c", "import bprobe._ext as m; print(m.answer(), m.__file__)"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer, loaded = proc.stdout.split()
    assert answer == "42"
    loaded_path = Path(loaded)
    if kind == "meson":  # loaded from the build directory, outside the wheel
        assert loaded_path.is_relative_to(project / "build"), loaded
        assert "(loaded by the editable wheel)" in log
    assert libpython_needed_by_readelf(loaded_path) == [], loaded
    assert f"repaired: removed DT_NEEDED {SONAME}" in log
    where = "the build directory its loader imports from" if kind == "meson" else "the editable wheel"
    how = "--no-build-isolation" if kind == "meson" else "build isolation"
    record_compat(SECTION, f"{BACKENDS[kind].label}: pip install -e", "pass",
                  f"{how}; error mode fails naming the module, repair mode: the module imported "
                  f"({where}) has no {SONAME}; build {secs:.0f} s")


# ---------------------------------------------------------------- other front-ends


def _frontend(case: str, root: Path, wheelhouse: Path) -> Build:
    kind = "skbuild" if case == "python -m build" else "meson"
    project = make_backend_project(root / "project", kind, "repair")
    out = root / "out"
    start = time.monotonic()
    if case == "python -m build":  # sdist through the wrapper, then the wheel from the sdist
        argv: List[object] = [PYTHON, "-m", "build", "-o", out, project]
        env = build_env(wheelhouse)
    else:
        argv = [uv_command(), "build", "--wheel", "--python", PYTHON, "--find-links", wheelhouse]
        for d in find_links_dirs():
            argv += ["--find-links", d]
        argv += [*uv_index_args(), "-o", out, project]
        env = {**build_env(wheelhouse), "UV_CACHE_DIR": str(root / "uv-cache"),
               "UV_INDEX_STRATEGY": "unsafe-best-match"}
    proc = run(argv, env=env)
    return Build(project, out, proc.stdout + proc.stderr, proc.returncode, time.monotonic() - start)


FRONTENDS = {"python -m build": "scikit-build-core", "uv build --wheel": "meson-python"}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FRONTENDS))
def test_frontends(case: str, tmp_path: Path, wheelhouse: Path) -> None:
    _requirements()
    b = _frontend(case, tmp_path, wheelhouse)
    assert b.returncode == 0, b.log[-5000:]
    if case == "python -m build":
        sdists = sorted(b.out.glob("*.tar.gz"))
        assert len(sdists) == 1, list(b.out.iterdir())
    assert f"removed DT_NEEDED {SONAME}" in b.log, b.log[-4000:]
    tree = unpack_wheel(b.wheel, tmp_path / "unpacked")
    so = tree / "bprobe" / EXT
    assert libpython_needed_by_readelf(so) == []
    proc = run([WITHOUT_LIBPYTHON, DEBIAN_PYTHON, "-I", "-c",
                f"import sys; sys.path.insert(0, {str(tree)!r}); import bprobe._ext as m; print(m.answer())"])
    assert proc.returncode == 0 and proc.stdout.strip() == "42", proc.stderr[-2000:]
    record_compat(SECTION, f"{FRONTENDS[case]}: {case}", "pass",
                  f"repair mode: wheel without {SONAME}, imports in Debian's python3.11 with libpython hidden"
                  f"{' (sdist built through the wrapper too)' if case == 'python -m build' else ''}; "
                  f"{b.seconds:.0f} s")


@pytest.mark.slow
def test_setuptools_inner_backend_is_the_setuptools_path(tmp_path: Path, wheelhouse: Path) -> None:
    """``backend = "setuptools.build_meta"`` routes to setuptools_nolibpython.build_meta: the
    link line is cleaned (a check alone, in error mode, would fail this build instead)."""
    project = make_project(tmp_path / "p", enable=None, ext_kwargs=ASKS_FOR_LIBPYTHON,
                           backend="setuptools_nolibpython.wrap",
                           table_extra='backend = "setuptools.build_meta"\n')
    proc = run([PYTHON, "-m", "pip", "wheel", "-v", "--no-deps", "-w", tmp_path / "out", project],
               env=build_env(wheelhouse))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert "probe._ext: removed 'python" in log, "the setuptools path did not clean the link line"
    tree = unpack_wheel(next((tmp_path / "out").glob("*.whl")), tmp_path / "unpacked")
    so = next(tree.rglob("_ext*.so"))
    assert libpython_needed_by_readelf(so) == []
    record_compat(SECTION, "setuptools.build_meta as the inner backend", "pass",
                  "routed to setuptools_nolibpython.build_meta: libpython removed from the link line, "
                  "the wheel checked before zipping")


# ---------------------------------------------------------------- configuration errors


def test_setuptools_build_without_the_wrapper_says_backend_is_ignored(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", enable=True, table_extra='backend = "scikit_build_core.build"\n')
    proc = run([PYTHON, "setup.py", "--name"], cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "backend = 'scikit_build_core.build' is read only by" in proc.stderr, proc.stderr
    # Negative control: without the key, nothing is said.
    plain = make_project(tmp_path / "q", enable=True)
    assert "is read only by" not in run([PYTHON, "setup.py", "--name"], cwd=plain).stderr


@pytest.mark.slow
def test_object_form_and_environment_switch(builds: Dict[Tuple[str, Optional[str]], Build], tmp_path: Path) -> None:
    """``backend = "module:object"`` is resolved as PEP 517 says; the wheel it hands over
    (the control's real CMake-built one, which needs libpython) is judged, and
    SETUPTOOLS_NOLIBPYTHON=0 passes it through unchecked."""
    wheel = builds[("skbuild", None)].wheel
    project = _wrapped(tmp_path / "p", TABLE + 'backend = "tinybackend:Backend"\n')
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out, err = _hook(project, "build_wheel", str(out_dir), env={"TINY_WHEEL": str(wheel)})
    assert "HOOKFAILED CalledProcessError" in out and f"bprobe/{EXT}: violation: needs {SONAME}" in err, out + err
    assert list(out_dir.iterdir()) == [], "the failing wheel was handed over"
    off = {"TINY_WHEEL": str(wheel), "SETUPTOOLS_NOLIBPYTHON": "0"}
    out, err = _hook(project, "build_wheel", str(out_dir), env=off)
    assert f"RESULT {wheel.name}" in out, out + err
    assert "SETUPTOOLS_NOLIBPYTHON turns the checks off" in err
    assert (out_dir / wheel.name).read_bytes() == wheel.read_bytes()
