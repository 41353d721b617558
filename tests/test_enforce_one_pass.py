"""The wrapper's build step judges before it writes: one read of the wheel, and a build
that fails writes nothing and logs no removal.

Real inputs: an extension module compiled and linked here with gcc against this
interpreter's libpython, with an RPATH to its lib dir (what strip-rpath removes), packed
in a proper wheel (RECORD with hashes), and the same file on disk as an editable
install's externally loaded module. Each "writes nothing" case has its control: the
same input in warn mode is rewritten (so the fix would have applied).
"""

from __future__ import annotations

import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
from elfgen import make_wheel
from support import readelf_dynamic, require, run

from setuptools_nolibpython.config import Config
from setuptools_nolibpython.enforce import ViolationError, enforce_wheel, judge_files, settle

LIBDIR = str(sysconfig.get_config_var("LIBDIR"))
LDVERSION = str(sysconfig.get_config_var("LDVERSION"))
EXT = f"probe/_ext{sysconfig.get_config_var('EXT_SUFFIX')}"
SOURCE = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
"""


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A module that needs libpython and carries RPATH=<the interpreter's lib dir>."""
    require((Path(LIBDIR) / f"libpython{LDVERSION}.so").exists(), f"a shared libpython in {LIBDIR} is needed")
    work = tmp_path_factory.mktemp("module")
    (work / "_ext.c").write_text(SOURCE)
    so = work / "_ext.so"
    run(["gcc", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", str(work / "_ext.c"),
         f"-L{LIBDIR}", f"-lpython{LDVERSION}", f"-Wl,-rpath,{LIBDIR}", "-Wl,--disable-new-dtags", "-o", str(so)],
        check=True)
    dyn = readelf_dynamic(so)
    assert any("libpython" in n for n in dyn.get("NEEDED", [])) and dyn.get("RPATH"), dyn  # control
    return so.read_bytes()


def _wheel(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name / "probe-1.0-cp311-cp311-linux_x86_64.whl"
    path.parent.mkdir()
    path.write_bytes(make_wheel({"probe/__init__.py": b"", EXT: data}, zipfile.ZIP_DEFLATED))
    return path


def _removals(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]


def test_error_mode_writes_no_wheel_and_logs_no_removal(
    module: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wheel = _wheel(tmp_path, module, "error")
    before = wheel.read_bytes()
    with caplog.at_level("INFO", logger="setuptools_nolibpython"), pytest.raises(ViolationError, match="libpython"):
        enforce_wheel(str(wheel), Config(enable=True))  # strip-rpath is on by default
    assert wheel.read_bytes() == before, "a failing build rewrote the wheel"
    assert not _removals(caplog), _removals(caplog)
    assert [p.name for p in wheel.parent.iterdir()] == [wheel.name], "a temporary file was left behind"
    # Control: the same wheel in warn mode is kept, so its RPATH fix is written and logged.
    caplog.clear()
    warned = _wheel(tmp_path, module, "warn")
    with caplog.at_level("INFO", logger="setuptools_nolibpython"):
        report = enforce_wheel(str(warned), Config(enable=True, on_violation="warn"))
    assert report.failed and warned.read_bytes() != before
    assert any(LIBDIR in line for line in _removals(caplog)), caplog.text
    with zipfile.ZipFile(warned) as zf:
        fixed = zf.read(EXT)
    out = tmp_path / "fixed.so"
    out.write_bytes(fixed)
    assert not readelf_dynamic(out).get("RPATH"), readelf_dynamic(out)


def test_repair_mode_judges_the_fixed_wheel(module: bytes, tmp_path: Path) -> None:
    """The verdict is on what ships: repair mode passes, and the wheel it writes is clean."""
    wheel = _wheel(tmp_path, module, "repair")
    report = enforce_wheel(str(wheel), Config(enable=True, on_violation="repair"))
    assert not report.failed, report
    check = run([sys.executable, "-m", "setuptools_nolibpython", "check", "--check-symbols", "off", str(wheel)])
    assert check.returncode == 0, check.stdout + check.stderr


def test_failing_editable_build_leaves_its_build_directory_alone(module: bytes, tmp_path: Path) -> None:
    """An editable wheel's externally loaded module (meson-python's build directory) is
    judged with the wheel; when the build fails, neither is touched."""
    build_dir = tmp_path / "build"
    build_dir.mkdir()
    ext = build_dir / "_ext.so"
    ext.write_bytes(module)
    clean = _wheel(tmp_path, b"", "editable")  # the editable wheel itself holds no ELF file
    with pytest.raises(ViolationError, match="libpython"):
        settle([*_judged(clean, ext, "error")])
    assert ext.read_bytes() == module, "a failing build stripped the RPATH in the build directory"
    settle([*_judged(clean, ext, "warn")])  # control: kept, so fixed
    assert ext.read_bytes() != module and not readelf_dynamic(ext).get("RPATH")


def _judged(wheel: Path, ext: Path, mode: str) -> list:  # type: ignore[type-arg]
    from setuptools_nolibpython.enforce import judge_wheel

    config = Config(enable=True, on_violation=mode)
    return [judge_wheel(str(wheel), config), judge_files([("_ext.so", str(ext))], config, "build (editable)")]


def test_one_read_of_the_wheel(module: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Vet, scan and judge open each member once (a spy on the real zipfile; nothing is faked)."""
    wheel = _wheel(tmp_path, module, "count")
    opened: Dict[str, int] = {}
    real_open = zipfile.ZipFile.open

    def counting_open(self: zipfile.ZipFile, name: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        key = name.filename if isinstance(name, zipfile.ZipInfo) else str(name)
        opened[key] = opened.get(key, 0) + 1
        return real_open(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", counting_open)
    with pytest.raises(ViolationError):
        enforce_wheel(str(wheel), Config(enable=True))
    assert opened.get(EXT) == 1, opened
