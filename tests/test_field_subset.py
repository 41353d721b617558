"""A fast subset of the field trial (`make field`, field/run.py) in `make test`: 2 sdists,
10 wheels and a few mutants, through the very functions the full run uses, so CI catches a
regression in the plugin or in the check on real PyPI artifacts.

Each wheel is judged as a user meets it (field/judge.py): installed with its dependencies
into a venv, its top-level names imported (libpython hidden on Debian's python3.11), held
against the exit status of `nolibpython check`.

Negative controls: the baseline built with the hostile LDFLAGS links libpython, which the
check fails and whose installed package really fails to import on Debian's python3.11
without libpython; an exit status flipped by hand is reported as wrong by the same judge;
the module of the dependency pattern, opened on its own, really does not load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from support import DEBIAN_PYTHON, REPO, require

sys.path.insert(0, str(REPO))

from field import build, common, fetch, judge
from field.mutants import run_mutants

SDISTS = ("markupsafe", "setproctitle")
WHEELS = (
    "markupsafe-3.0.4-cp39-cp39-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    "markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    "markupsafe-3.0.4-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    "markupsafe-3.0.4-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl",
    "msgpack-1.2.4-cp311-cp311-musllinux_1_2_x86_64.whl",
    "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl",
    "bcrypt-5.0.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "ujson-6.1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "simplejson-4.3.0-cp312-cp312-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl",
)
#: A module needing libraries its dependency's wheel (pyarrow) ships, with no RPATH reaching them.
FROM_DEPENDENCY = "pymongoarrow-1.15.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl"
#: The subset's build venv holds only what these two sdists need to build.
SUBSET_BUILD_REQUIREMENTS = ("setuptools==80.9.0", "wheel==0.45.1")


@pytest.fixture(scope="module", autouse=True)
def own_cache() -> Iterator[None]:
    """The subset keeps its downloads and venvs apart from a full run's (.cache/field)."""
    saved = common.CACHE
    common.CACHE = REPO / ".cache" / "field-subset"
    yield
    common.CACHE = saved


@pytest.fixture(scope="module")
def listed() -> Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]]:
    sdists, wheels = common.load_projects()
    return {s.name: s for s in sdists}, {w.file: w for w in wheels}


@pytest.fixture(scope="module")
def build_py() -> Path:
    require(common.pyenv_python(common.BUILD_PYTHON_VERSION) is not None, "pyenv CPython 3.11.7 is needed")
    require(DEBIAN_PYTHON.exists(), "Debian's python3.11 is needed")
    return fetch.build_venv(fetch.plugin_wheel(), SUBSET_BUILD_REQUIREMENTS, name="venv-build-subset")


def test_subset_is_listed_and_within_bounds(listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]]) -> None:
    sdists, wheels = listed
    assert len(SDISTS) <= 3 and len(WHEELS) + 1 <= 10
    assert set(SDISTS) <= set(sdists) and {*WHEELS, FROM_DEPENDENCY} <= set(wheels)
    # the full list meets the floor
    assert len(sdists) >= 30 and len(wheels) >= 100


@pytest.mark.parametrize("name", SDISTS)
def test_sdist_builds_with_plugin_and_hostile_flags_and_imports_without_libpython(
    name: str, listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]], build_py: Path
) -> None:
    s = listed[0][name]
    res = build.run_sdist(s, build_py, 0, fetch.debian_venv())
    assert res.ok("a") and res.ok("b") and res.ok("c"), [b.tail for b in res.builds if not b.ok]
    c = next(b for b in res.builds if b.mode == "c")
    # the plugin says what it removed from the hostile flags, and its verdict
    assert any("removed '-lpython3.11'" in line for line in c.plugin_lines), c.plugin_lines
    assert any("removed '-Wl,-z,defs'" in line for line in c.plugin_lines), c.plugin_lines
    assert any("none needs libpython" in line for line in c.plugin_lines), c.plugin_lines
    assert not any(b.plugin_lines for b in res.builds if b.mode == "a")  # the baseline has no plugin
    assert res.check_c == "ok"
    assert res.modules and res.c_imports == {m: "ok" for m in res.modules}
    assert res.smoke_ok, res.smoke_error
    ov = res.overhead(cpu=True)
    assert ov is not None


def test_negative_control_hostile_baseline_links_libpython_and_fails(
    listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]], build_py: Path, tmp_path: Path
) -> None:
    """Without the plugin, the hostile LDFLAGS give a module that needs libpython: the check
    exits 1 and the installed package really fails to import with libpython hidden."""
    s = listed[0]["markupsafe"]
    sdist = fetch.fetch_sdist(s, build_py)
    hostile = common.Sdist(s.name, s.version, s.exercises, s.smoke, {"LDFLAGS": "-Wl,--no-as-needed -lpython3.11"})
    b = build.build_sdist(hostile, sdist, build_py, "a", tmp_path / "out")
    assert b.ok and b.wheel
    whl = Path(b.wheel)
    members = common.inventory(whl)
    truth, reason, imports, modules, _deps, _ = judge.meet(build_py, whl, common.DEBIAN_PYTHON, True, members)
    assert truth == judge.BROKEN and "libpython3.11.so.1.0" in reason, reason
    assert list(imports) == ["markupsafe"] and "libpython3.11.so.1.0" in next(iter(modules.values()))
    checked = judge.check(build_py, [whl], common.DEBIAN_PYTHON)
    assert checked.status == 1 and any("needs-libpython" in e for e in checked.errors), checked
    result = judge.WheelResult(whl.name, [], 0.0, len(members), [1, 0, 0], "Debian", [], truth, reason, imports,
                               modules, [checked])
    assert result.wrong() == []
    # Negative control: the same judge reports exit 0 on this broken package as wrong.
    checked.status = 0
    assert [what for _, what in result.wrong()] == [judge.EXIT_0_ON_BROKEN]


def test_wheels_have_no_wrong_verdicts(
    listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]], build_py: Path
) -> None:
    results = [judge.run_wheel(listed[1][f], build_py) for f in WHEELS]
    wrong = [(r.file, c.wheels, what) for r in results for c, what in r.wrong()]
    assert wrong == []
    judged = [r for r in results if r.truth != judge.NOT_JUDGED]
    assert len(judged) >= 7 and all(r.truth == judge.WORKS for r in judged), [(r.file, r.reason) for r in judged]
    assert all(r.imports and set(r.imports.values()) == {"ok"} for r in judged)
    assert all(r.checks[0].status == 0 for r in judged)
    # foreign platforms are checked but not judged, and say why
    foreign = [r for r in results if "aarch64" in r.file or "musllinux" in r.file]
    assert foreign and all(r.truth == judge.NOT_JUDGED and "no interpreter here" in r.reason for r in foreign)
    # Negative control: the same judge reports a flipped exit status as wrong.
    r = judged[0]
    r.checks[0].status = 1
    assert [what for _, what in r.wrong()] == [judge.EXIT_1_ON_WORKING]


def test_library_from_a_dependency_is_judged_by_the_installed_package(
    listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]], build_py: Path, tmp_path: Path
) -> None:
    """pymongoarrow's module needs libarrow*.so.2500 from pyarrow's wheel with no RPATH
    reaching them: opened on its own it does not load, installed with pyarrow it imports."""
    w = listed[1][FROM_DEPENDENCY]
    whl = fetch.fetch_wheel(w, build_py)
    members = common.inventory(whl)
    import zipfile

    with zipfile.ZipFile(whl) as zf:
        zf.extractall(tmp_path)
    alone = judge.probe(common.DEBIAN_PYTHON, True, tmp_path, [m for m in members if m.kind == "module"])
    module = next(m.path for m in members if m.kind == "module")
    assert not alone["files"][module]["ok"] and "libarrow" in alone["files"][module]["error"], alone
    r = judge.run_wheel(w, build_py)
    assert r.truth == judge.WORKS and r.imports == {"pymongoarrow": "ok"} and r.modules == {module: "ok"}, r
    assert any(d.startswith("pyarrow-25.") for d in r.dependencies), r.dependencies
    together = r.checks[1]
    assert together.wheels[0] == w.file and any(x.startswith("pyarrow-25.") for x in together.wheels)
    # The gate must pass a working package. Before the product's multi-wheel check
    # (issue 19: --strict, libraries found in the wheels checked together) it exits 1.
    help_text = common.run([str(build_py), "-m", "setuptools_nolibpython", "check", "--help"]).output
    if "--strict" in help_text:
        assert r.wrong() == [], [(c.wheels, c.errors) for c, _ in r.wrong()]
    else:
        assert [(c.status, what) for c, what in r.wrong()] == [(1, judge.EXIT_1_ON_WORKING)] * 2


def test_mutants_are_all_detected_and_all_fail_to_import(
    listed: Tuple[Dict[str, common.Sdist], Dict[str, common.Wheel]], build_py: Path
) -> None:
    wheels = [listed[1][f] for f in WHEELS]
    for w in wheels:
        fetch.fetch_wheel(w, build_py)
    mutants = run_mutants(
        build_py, wheels, per_kind=1, spellings=("libpython3.11.so.1.0", "libpython3.so", "libpython2.7.so.1.0")
    )
    kinds: List[str] = sorted({m.kind for m in mutants})
    assert kinds == ["libpython", "missing-library", "stable-abi", "undefined"]
    assert len([m for m in mutants if m.kind == "libpython"]) == 3
    assert [(m.kind, m.change) for m in mutants if not m.detected] == []
    assert [(m.kind, m.change, m.import_error) for m in mutants if not m.import_failed] == []
