"""A fast subset of the field trial (`make field`, field/run.py) in `make test`: 2 sdists,
9 wheels and a few mutants, through the very functions the full run uses, so CI catches a
regression in the plugin or in the check on real PyPI artifacts.

Negative controls: the baseline built with the hostile LDFLAGS links libpython, which the
check flags and which really fails to import on Debian's python3.11 without libpython;
and a verdict flipped by hand is reported as wrong by the same judge.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from support import DEBIAN_PYTHON, REPO, require

sys.path.insert(0, str(REPO))

from field import run as field
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
#: The subset's build venv holds only what these two sdists need to build.
SUBSET_BUILD_REQUIREMENTS = ("setuptools==80.9.0", "wheel==0.45.1")


@pytest.fixture(scope="module", autouse=True)
def own_cache() -> Iterator[None]:
    """The subset keeps its downloads and venvs apart from a full run's (.cache/field)."""
    saved = field.CACHE
    field.CACHE = REPO / ".cache" / "field-subset"
    yield
    field.CACHE = saved


@pytest.fixture(scope="module")
def listed() -> Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]]:
    sdists, wheels = field.load_projects()
    return {s.name: s for s in sdists}, {w.file: w for w in wheels}


@pytest.fixture(scope="module")
def build_py() -> Path:
    require(field.pyenv_python(field.BUILD_PYTHON_VERSION) is not None, "pyenv CPython 3.11.7 is needed")
    require(DEBIAN_PYTHON.exists(), "Debian's python3.11 is needed")
    return field.build_venv(field.plugin_wheel(), SUBSET_BUILD_REQUIREMENTS, name="venv-build-subset")


def test_subset_is_listed_and_within_bounds(listed: Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]]) -> None:
    sdists, wheels = listed
    assert len(SDISTS) <= 3 and len(WHEELS) <= 10
    assert set(SDISTS) <= set(sdists) and set(WHEELS) <= set(wheels)
    # the full list meets the floor
    assert len(sdists) >= 30 and len(wheels) >= 100


@pytest.mark.parametrize("name", SDISTS)
def test_sdist_builds_with_plugin_and_hostile_flags_and_imports_without_libpython(
    name: str, listed: Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]], build_py: Path
) -> None:
    s = listed[0][name]
    res = field.run_sdist(s, build_py, 0, field.debian_venv())
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
    listed: Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]], build_py: Path, tmp_path: Path
) -> None:
    """Without the plugin, the hostile LDFLAGS give a module that needs libpython; the check
    flags it and the same ground-truth probe sees the import fail with libpython hidden."""
    s = listed[0]["markupsafe"]
    sdist = field.fetch_sdist(s, build_py)
    hostile = field.Sdist(s.name, s.version, s.exercises, s.smoke, {"LDFLAGS": "-Wl,--no-as-needed -lpython3.11"})
    b = field.build_sdist(hostile, sdist, build_py, "a", tmp_path / "out")
    assert b.ok and b.wheel
    whl = Path(b.wheel)
    members = field.inventory(whl)
    doc = field.nolibpython_check(build_py, whl, field.DEBIAN_PYTHON)
    assert not doc["ok"]
    import zipfile

    root = tmp_path / "unpacked"
    with zipfile.ZipFile(whl) as zf:
        zf.extractall(root)
    truth = field.probe(field.DEBIAN_PYTHON, True, root, members)
    verdicts = field.judge(members, doc, truth)
    assert [v.verdict for v in verdicts] == ["violation"]
    assert [v.truth for v in verdicts] == ["fails"] and "libpython3.11.so.1.0" in verdicts[0].error
    assert not any(v.wrong for v in verdicts)


def test_wheels_have_no_wrong_verdicts(
    listed: Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]], build_py: Path
) -> None:
    results = [field.run_wheel(listed[1][f], build_py) for f in WHEELS]
    wrong = [(r.file, f.path, f.wrong) for r in results for f in r.wrong]
    assert wrong == []
    judged = [f for r in results for f in r.files if f.truth != "n/a"]
    assert len(judged) >= 7 and all(f.truth == "loads" for f in judged), [(f.path, f.error) for f in judged]
    # foreign platforms are checked but not judged
    foreign = [r for r in results if "aarch64" in r.file or "musllinux" in r.file]
    assert foreign and all(f.truth == "n/a" for r in foreign for f in r.files)
    # Negative control: the same judge reports a flipped verdict as wrong.
    r = results[1]
    member = r.files[0]
    doc = {
        "targets": [
            {
                "files": [
                    {
                        "path": member.path,
                        "verdict": "violation",
                        "problems": [{"code": "needs-libpython", "severity": "error"}],
                    }
                ]
            }
        ]
    }
    flipped = field.judge(
        [field.ElfMember(member.path, "module", "")],
        doc,
        {"files": {member.path: {"ok": True, "how": "import", "error": ""}}},
    )
    assert flipped[0].wrong


def test_mutants_are_all_detected_and_all_fail_to_import(
    listed: Tuple[Dict[str, field.Sdist], Dict[str, field.Wheel]], build_py: Path
) -> None:
    wheels = [listed[1][f] for f in WHEELS]
    for w in wheels:
        field.fetch_wheel(w, build_py)
    mutants = run_mutants(
        build_py, wheels, per_kind=1, spellings=("libpython3.11.so.1.0", "libpython3.so", "libpython2.7.so.1.0")
    )
    kinds: List[str] = sorted({m.kind for m in mutants})
    assert kinds == ["libpython", "missing-library", "stable-abi", "undefined"]
    assert len([m for m in mutants if m.kind == "libpython"]) == 3
    assert [(m.kind, m.change) for m in mutants if not m.detected] == []
    assert [(m.kind, m.change, m.import_error) for m in mutants if not m.import_failed] == []
