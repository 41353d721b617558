"""The backend wrapper's configuration: a bad `backend` key or table is a one-line error,
optional hooks follow the inner backend, and an editable loader the scan cannot read is a
note. No build runs here (the builds are in tests/test_wrap_backends.py)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Dict

import pytest
from support.backend_hooks import TABLE, TINY_BACKEND, _hook, _wrapped

from setuptools_nolibpython.config import ConfigError, parse_table

ERRORS = {
    "no backend": (TABLE + 'on-violation = "repair"\n', "[tool.setuptools-nolibpython] has no backend;"),
    "no table": ("", "[tool.setuptools-nolibpython] has no backend;"),
    "cannot be imported": (TABLE + 'backend = "no_such_backend.build"\n',
                           "backend = 'no_such_backend.build' cannot be imported (ModuleNotFoundError: "),
    "names the wrapper": (TABLE + 'backend = "setuptools_nolibpython.wrap"\n', "names this wrapper itself"),
    "names the wrapper, other spelling": (TABLE + 'backend = "setuptools_nolibpython : wrap"\n',
                                          "names this wrapper itself"),
    "lacks a called hook": (TABLE + 'backend = "tinybackend"\n',
                            "backend 'tinybackend' has no build_sdist hook, which the front-end called"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_configuration_errors_are_one_line(case: str, tmp_path: Path) -> None:
    table, expected = ERRORS[case]
    project = _wrapped(tmp_path / "p", table)
    hook = "build_sdist" if case == "lacks a called hook" else "get_requires_for_build_wheel"
    out, err = _hook(project, hook, *(["out"] if hook == "build_sdist" else []))
    assert "HOOKFAILED CalledProcessError" in out, out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: setuptools-nolibpython: {project / 'pyproject.toml'}: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err


def test_optional_hooks_follow_the_inner_backend(tmp_path: Path) -> None:
    """A hook the inner backend has is passed through; one it lacks is missing here too."""
    project = _wrapped(tmp_path / "p", "[tool.setuptools-nolibpython]\nbackend = \"tinybackend\"\n")
    out, err = _hook(project, "get_requires_for_build_wheel")
    assert "RESULT ['tiny-extra-requirement']" in out, out + err
    out, err = _hook(project, "features")
    assert "RESULT []" in out, out + err  # no build_editable in tinybackend, so none here
    out, err = _hook(project, "build_editable", "out")
    assert "HOOKMISSING" in out, out + err
    # Negative control: a backend that has build_editable shows it through the wrapper.
    (project / "tinybackend.py").write_text(TINY_BACKEND + "\ndef build_editable(d, c=None, m=None):\n    return 'x'\n")
    out, err = _hook(project, "features")
    assert "RESULT ['build_editable']" in out, out + err


@pytest.mark.parametrize("value,expected", [
    (42, "backend must be a string naming a PEP 517 backend"),
    ("scikit build", "backend must name a PEP 517 backend"),
    ("mod:", "backend must name a PEP 517 backend"),
])
def test_backend_key_is_validated(value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_table({"backend": value}, "p/pyproject.toml")
    assert parse_table({"backend": " scikit_build_core.build : x "}, "w").backend == "scikit_build_core.build:x"


def _zip(path: Path, members: Dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_editable_loader_not_understood_is_a_note(tmp_path: Path) -> None:
    """What the wrapper cannot find is said, never guessed (editables.external_files)."""
    from setuptools_nolibpython.editables import external_files

    odd = external_files(str(_zip(tmp_path / "a.whl", {"_a_editable_loader.py": "def init():\n    pass\n"})))
    assert odd.files == () and "no build directory found" in odd.notes[0]
    build = tmp_path / "build"
    (build / "meson-info").mkdir(parents=True)
    (build / "meson-info" / "intro-install_plan.json").write_text("{not json")
    loader = f"def init():\n    f = MesonpyMetaFinder('a', {{'a'}}, {str(build)!r}, ['ninja'], False)\n"
    broken = external_files(str(_zip(tmp_path / "b.whl", {"_a_editable_loader.py": loader})))
    assert broken.build_dir == str(build) and "cannot read meson's install plan" in broken.notes[0]
    # Negative control: a plan naming a real file gives that file, under its install name.
    (build / "m.so").write_bytes(b"\x7fELF")
    plan = {"targets": {str(build / "m.so"): {"destination": "{py_platlib}/a/m.so"}}}
    (build / "meson-info" / "intro-install_plan.json").write_text(json.dumps(plan))
    good = external_files(str(_zip(tmp_path / "c.whl", {"_a_editable_loader.py": loader})))
    assert good.files == (("a/m.so", str(build / "m.so")),) and good.notes == ()
    assert external_files(str(_zip(tmp_path / "d.whl", {"a/__init__.py": ""}))).build_dir is None
