"""A project's own build_ext, declared in setup.py, setup.cfg or ``[tool.setuptools]
cmdclass``, keeps working (its run() and build_extension() execute: a marker file
proves it) and gets the behaviour too. Real ``pip wheel`` builds with isolation; the
negative control is the same project with ``enable = false``."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import pytest
from support import built_wheel, make_project, pip_wheel, record_compat
from support.plugin_builds import (
    SETUP_HEAD,
    assert_libpython,
    assert_no_libpython,
    output,
    scan_built_wheel,
    wheel_extensions,
)

EXT = "libraries=['python' + V], library_dirs=[LIBDIR], extra_link_args=['-Wl,-z,defs']"

CUSTOM_CLASS = '''
from setuptools.command.build_ext import build_ext as _build_ext

MARKER = {marker!r}


class BuildExt(_build_ext):
    """The project's own build_ext: both overrides must still run."""

    def run(self):
        with open(MARKER, "a") as f:
            f.write("run\\n")
        super().run()

    def build_extension(self, ext):
        with open(MARKER, "a") as f:
            f.write("built " + ext.name + "\\n")
        super().build_extension(ext)
'''


def _project(root: Path, how: str, enable: bool, marker: Path) -> Path:
    """The same project, its build_ext declared the ``how`` way."""
    cls = CUSTOM_CLASS.format(marker=str(marker))
    ext = f"Extension('cmd._ext', ['cmd/_ext.c'], {EXT})"
    files: Dict[str, str] = {}
    pyproject_extra = ""
    if how == "setup.py":
        setup = SETUP_HEAD + cls + f"\nsetup(ext_modules=[{ext}], cmdclass={{'build_ext': BuildExt}})\n"
    else:
        setup = SETUP_HEAD + f"setup(ext_modules=[{ext}])\n"
        files["custom_build.py"] = cls
        if how == "setup.cfg":
            files["setup.cfg"] = "[options]\ncmdclass =\n    build_ext = custom_build.BuildExt\n"
        else:
            pyproject_extra = '[tool.setuptools.cmdclass]\nbuild_ext = "custom_build.BuildExt"\n'
    return make_project(root, name="cmd", enable=enable, setup_py=setup, extra_files=files,
                        pyproject_extra=pyproject_extra)


WAYS = ["setup.py", "setup.cfg", "pyproject [tool.setuptools] cmdclass"]
#: The cells of docs/compatibility.md (section "composition") these cases fill.
#: Cython's and pybind11's build_ext are covered by tests/test_matrix_composition.py.
COMPAT_CASE = {
    "setup.py": "build_ext subclass in setup.py cmdclass",
    "setup.cfg": "build_ext subclass in setup.cfg [options] cmdclass",
    "pyproject [tool.setuptools] cmdclass": "build_ext subclass in pyproject [tool.setuptools] cmdclass",
}


def _build(tmp: Path, how: str, enable: bool, wheelhouse: Path) -> Tuple[Path, str, Path]:
    marker = tmp / "marker.txt"
    proj = _project(tmp / "proj", how, enable, marker)
    proc = pip_wheel(proj, tmp / "out", wheelhouse)
    assert proc.returncode == 0, output(proc)[-6000:]
    return built_wheel(tmp / "out"), output(proc), marker


@pytest.mark.parametrize("how", WAYS)
def test_custom_build_ext(how: str, tmp_path: Path, wheelhouse: Path) -> None:
    wheel, log, marker = _build(tmp_path / "on", how, True, wheelhouse)
    files = wheel_extensions(wheel, tmp_path / "on" / "unpacked")
    assert_no_libpython(files, scan_built_wheel(wheel), ["_ext"])
    assert "setuptools-nolibpython: cmd._ext: removed 'python" in log
    # the project's own class ran (pip runs bdist_wheel once: one run, one extension)
    assert marker.read_text().splitlines() == ["run", "built cmd._ext"]

    # negative control: the same project, plugin disabled, links libpython
    wheel_off, _log_off, marker_off = _build(tmp_path / "off", how, False, wheelhouse)
    files_off = wheel_extensions(wheel_off, tmp_path / "off" / "unpacked")
    assert_libpython(files_off, scan_built_wheel(wheel_off), ["_ext"])
    assert marker_off.read_text().splitlines() == ["run", "built cmd._ext"]
    record_compat("composition", COMPAT_CASE[how], "pass",
                  "pip wheel (isolated): no libpython, the project's run() and build_extension() ran; "
                  "without the plugin: links libpython")
