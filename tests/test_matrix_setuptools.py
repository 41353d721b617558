"""Compatibility matrix, setuptools versions: the plugin's declared range, held by tests.

The plugin declares ``setuptools>=61`` (the first release that reads ``[project]``
from pyproject.toml), and ``>=66.1`` on Python 3.12+, where older setuptools cannot run.
Each version is pinned in ``[build-system] requires`` next to the plugin and built by
``pip wheel`` with isolation: 61 and 69 (bdist_wheel still comes from the ``wheel``
package), 70.1 (setuptools' own bdist_wheel), and the newest on the index. setup.py
prints the bdist_wheel class's MRO, so each cell proves which bdist_wheel ran and that
the plugin's mixin was in it. Below the range, pip must refuse the combination.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from support import (
    ASKS_FOR_LIBPYTHON,
    import_and_locate,
    in_parallel,
    libpython_needed_by_readelf,
    make_project,
    pip_wheel,
    pyenv_pythons,
    record_compat,
    require,
    run,
    unpack_wheel,
)

PYTHON = Path(sys.executable)
SECTION = "setuptools versions"
REPO = Path(__file__).resolve().parents[1]

SETUP_PY = """\
import sysconfig
from setuptools import Extension, setup
LDVERSION = sysconfig.get_config_var('LDVERSION') or sysconfig.get_config_var('VERSION')
LIBDIR = sysconfig.get_config_var('LIBDIR')
dist = setup(ext_modules=[Extension("probe._ext", ["probe/_ext.c"], ASK)])
cmd = dist.command_obj.get("bdist_wheel")
if cmd is not None:
    print("BDIST_WHEEL_MRO", " ".join(c.__module__ for c in type(cmd).__mro__), flush=True)
""".replace("ASK", ASKS_FOR_LIBPYTHON)


def declared_minimum(python_version: str) -> str:
    """The setuptools lower bound the plugin declares (pyproject.toml) for a Python X.Y."""
    import tomllib
    from packaging.requirements import Requirement

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    for dep in map(Requirement, deps):
        if dep.name == "setuptools" and (dep.marker is None or dep.marker.evaluate(env)):
            [spec] = [s for s in dep.specifier if s.operator == ">="]
            return spec.version
    raise AssertionError(f"pyproject.toml declares no setuptools range for Python {python_version}")


def newest_setuptools() -> str:
    proc = run([PYTHON, "-m", "pip", "index", "versions", "setuptools"])
    m = re.search(r"setuptools \(([\d.]+)\)", proc.stdout)
    require(m, f"cannot ask the index for setuptools versions: {proc.stderr[-300:]}")
    assert m
    return m[1]


def _build(root: Path, version: str, enable: bool, wheelhouse: Path, python: Path = PYTHON,
           plugin_required: bool = True) -> Tuple[Optional[Path], str, int]:
    requires = (f"setuptools=={version}",) + (("setuptools-nolibpython",) if plugin_required else ())
    project = make_project(root / "project", enable=enable, setup_py=SETUP_PY, requires=requires)
    proc = pip_wheel(project, root / "out", wheelhouse, python=python)
    wheels = sorted((root / "out").glob("*.whl"))
    return (wheels[0] if wheels else None), proc.stdout + "\n" + proc.stderr, proc.returncode


def _module_file(wheel: Optional[Path], log: str, python: Path = PYTHON) -> Path:
    assert wheel is not None, f"no wheel:\n{log[-6000:]}"
    tree = unpack_wheel(wheel, wheel.parent / "unpacked")
    [f] = import_and_locate(python, f"import sys; sys.path.insert(0, {str(tree)!r})", ["probe._ext"],
                            cwd=wheel.parent)
    return f


def _bdist_wheel_mro(log: str) -> List[str]:
    m = re.search(r"BDIST_WHEEL_MRO (.*)", log)
    assert m, "setup.py did not report the bdist_wheel class"
    return m[1].split()


VERSIONS = {
    "61.0.0": "wheel",  # the declared minimum
    "69.5.1": "wheel",  # the last series before setuptools had its own bdist_wheel
    "70.1.0": "setuptools",  # the first with setuptools.command.bdist_wheel
    "newest": "setuptools",
}


@pytest.mark.slow
@pytest.mark.parametrize("label", list(VERSIONS))
def test_setuptools_version(label: str, tmp_path: Path, wheelhouse: Path) -> None:
    version = newest_setuptools() if label == "newest" else label
    (wheel, log, rc), (cwheel, clog, crc) = in_parallel(
        lambda: _build(tmp_path / "with-plugin", version, True, wheelhouse),
        lambda: _build(tmp_path / "control", version, False, wheelhouse),
    )
    assert rc == 0, f"setuptools {version}: the build failed:\n{log[-6000:]}"
    assert re.search(rf"Successfully installed .*\bsetuptools-{re.escape(version)}\b", log), \
        f"setuptools {version} was not the one installed in the build environment"
    mro = _bdist_wheel_mro(log)
    assert "setuptools_nolibpython.commands" in mro, f"the plugin's mixin is not in bdist_wheel: {mro}"
    provider = VERSIONS[label]
    origin = "setuptools.command.bdist_wheel" if provider == "setuptools" else "wheel."
    assert any(m.startswith(origin) for m in mro), f"expected bdist_wheel from {provider}: {mro}"
    assert "checked 1 ELF file in the wheel: none needs libpython" in log
    built = _module_file(wheel, log)
    assert libpython_needed_by_readelf(built) == []
    # Negative control: the same version without the plugin links libpython.
    assert crc == 0, clog[-4000:]
    control = _module_file(cwheel, clog)
    assert libpython_needed_by_readelf(control), "control does not link libpython: the cell proves nothing"
    assert "setuptools_nolibpython.commands" not in _bdist_wheel_mro(clog)
    wheel_pkg = re.search(r"Successfully installed .*\bwheel-(\S+)", log)
    origin_text = f"wheel {wheel_pkg[1]}" if provider == "wheel" and wheel_pkg else provider
    record_compat(
        SECTION, f"setuptools {label}", "pass",
        f"setuptools {version}, pip wheel (isolated), bdist_wheel from {origin_text}: no libpython, imports; "
        f"without the plugin: NEEDED {', '.join(libpython_needed_by_readelf(control))}",
    )


@pytest.mark.slow
def test_editable_with_first_pep660_setuptools(tmp_path: Path, wheelhouse: Path) -> None:
    """setuptools 64 (first PEP 660 release, bdist_wheel from ``wheel``): pip install -e."""
    version = "64.0.0"

    def editable(root: Path, enable: bool) -> Tuple[Path, str]:
        project = make_project(root / "project", enable=enable, ext_kwargs=ASKS_FOR_LIBPYTHON,
                               requires=(f"setuptools=={version}", "setuptools-nolibpython"))
        prefix = root / "prefix"
        proc = run([PYTHON, "-m", "pip", "install", "-v", "--no-deps", "--find-links", wheelhouse,
                    "--prefix", prefix, "-e", project])
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-6000:]
        assert re.search(rf"Successfully installed .*\bsetuptools-{version}\b", log)
        site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        [f] = import_and_locate(PYTHON, f"import site; site.addsitedir({str(site)!r})", ["probe._ext"], cwd=root)
        return f, log

    (built, log), (control, _) = in_parallel(
        lambda: editable(tmp_path / "with-plugin", True), lambda: editable(tmp_path / "control", False))
    assert built.is_relative_to(tmp_path / "with-plugin")
    assert libpython_needed_by_readelf(built) == []
    assert "none needs libpython" in log
    assert libpython_needed_by_readelf(control), "control does not link libpython: the cell proves nothing"
    record_compat(SECTION, f"setuptools {version}, pip install -e", "pass",
                  "PEP 660 editable: the module imports without libpython; without the plugin it links it")


def _refused(log: str, rc: int, wheel: Optional[Path], minimum: str) -> bool:
    """pip's resolver said no (a one-line reason naming the plugin's requirement), no wheel."""
    return (rc != 0 and wheel is None and f"setuptools>={minimum}" in log
            and ("ResolutionImpossible" in log or "conflict" in log.lower()))


@pytest.mark.slow
def test_below_declared_range_is_refused(tmp_path: Path, wheelhouse: Path) -> None:
    """One release below the declared minimum: pip must refuse to put the plugin beside it."""
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    require(sys.version_info < (3, 12), "the 61 boundary applies to Python < 3.12; run the suite on 3.11")
    minimum = declared_minimum(pyver)
    assert minimum == "61", f"update this test and the matrix when the declared range moves (now >={minimum})"
    wheel, log, rc = _build(tmp_path / "old", "60.10.0", True, wheelhouse)
    assert _refused(log, rc, wheel, minimum), f"setuptools 60.10.0 was not refused:\n{log[-4000:]}"
    record_compat(SECTION, f"setuptools < {minimum} is refused (60.10.0)", "pass",
                  f"outside the declared range (setuptools>={minimum}): pip refuses to install the plugin beside it")


@pytest.mark.slow
def test_python312_range_starts_where_setuptools_works(tmp_path: Path, wheelhouse: Path) -> None:
    """On Python 3.12+ setuptools < 66.1 cannot build anything (pkg_resources uses the removed
    pkgutil.ImpImporter): the plugin's range starts at 66.1 there, and the tests hold both ends."""
    py312 = pyenv_pythons((3, 12), (3, 12)).get("3.12")
    require(py312, "no pyenv CPython 3.12 in $(pyenv root)/versions")
    assert py312 is not None
    minimum = declared_minimum("3.12")
    assert minimum == "66.1", f"update this test when the declared range moves (now >={minimum})"
    (wheel, log, rc), (cwheel, clog, crc) = in_parallel(
        lambda: _build(tmp_path / "with-plugin", "66.1.0", True, wheelhouse, py312),
        lambda: _build(tmp_path / "control", "66.1.0", False, wheelhouse, py312),
    )
    assert rc == 0, log[-6000:]
    built = _module_file(wheel, log, py312)
    assert libpython_needed_by_readelf(built) == []
    assert crc == 0, clog[-4000:]
    assert libpython_needed_by_readelf(_module_file(cwheel, clog, py312)), "control does not link libpython"
    # Below the range: refused with the plugin; without it setuptools 66.0 itself crashes.
    (owheel, olog, orc), (_, nlog, nrc) = in_parallel(
        lambda: _build(tmp_path / "old-with-plugin", "66.0.0", True, wheelhouse, py312),
        lambda: _build(tmp_path / "old-control", "66.0.0", False, wheelhouse, py312, plugin_required=False),
    )
    assert _refused(olog, orc, owheel, minimum), f"setuptools 66.0.0 on 3.12 was not refused:\n{olog[-4000:]}"
    assert nrc != 0 and "ImpImporter" in nlog, f"setuptools 66.0.0 on 3.12 no longer fails by itself:\n{nlog[-3000:]}"
    record_compat(SECTION, "Python 3.12: setuptools 66.1.0; < 66.1 refused", "pass",
                  "66.1.0: no libpython, imports (without the plugin: links libpython); 66.0.0 is refused "
                  "by pip with the plugin, and crashes by itself without it (pkgutil.ImpImporter)")
