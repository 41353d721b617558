"""The build log says what the CLI says, whichever ``setup()`` the project calls.

- A ``setup.py`` that calls ``distutils.core.setup`` (setuptools' shim) gets the plugin's
  behaviour; its lines must show in ``pip wheel -v`` too (only ``setuptools.setup()``
  installs setuptools' logging handler).
- What the whole-wheel checks could not verify ("built for another machine") is said in
  the build log, as ``nolibpython check`` says it for the same wheel.
- An ``allow`` pattern that matches no file is reported.

Real ``pip wheel -v`` builds (isolated, the plugin from the session's wheelhouse) of
projects written here, with gcc-built prebuilt files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from support import built_wheel, libpython_needed_by_readelf, make_project, pip_wheel
from support.cbuild import cli, gcc
from support.plugin_builds import SONAME, output, wheel_extensions

DISTUTILS_SETUP = textwrap.dedent(
    """
    import sysconfig
    from distutils.core import Extension, setup
    V = sysconfig.get_config_var('LDVERSION')
    setup(name="dlog", version="1.0", packages=["dlog"],
          ext_modules=[Extension("dlog._ext", ["dlog/_ext.c"], libraries=["python" + V],
                                 library_dirs=[sysconfig.get_config_var('LIBDIR')])])
    """
)


def _plugin_lines(log: str) -> list:
    return [ln for ln in log.splitlines() if "setuptools-nolibpython: " in ln]


def test_distutils_setup_shows_the_plugin_lines(tmp_path: Path, wheelhouse: Path) -> None:
    proj = make_project(tmp_path / "on", name="dlog", setup_py=DISTUTILS_SETUP,
                        table_extra='allow = ["nomatch/*.so"]\n')
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    log = output(proc)
    assert proc.returncode == 0, log[-4000:]
    said = _plugin_lines(log)
    assert any("dlog._ext: removed" in ln and "libpython" in ln for ln in said), log[-4000:]
    assert any("checked 1 ELF file in the wheel: none needs libpython" in ln for ln in said), said
    assert any("allow pattern 'nomatch/*.so' matches no ELF file in the wheel" in ln for ln in said), said
    files = wheel_extensions(built_wheel(tmp_path / "out"), tmp_path / "unpacked")
    assert libpython_needed_by_readelf(files["_ext"]) == []
    # Negative control: the same project with the plugin off says nothing and links libpython.
    off = make_project(tmp_path / "off", name="dlog", setup_py=DISTUTILS_SETUP, enable=False)
    proc = pip_wheel(off, tmp_path / "out-off", wheelhouse)
    assert proc.returncode == 0 and _plugin_lines(output(proc)) == [], output(proc)[-3000:]
    files = wheel_extensions(built_wheel(tmp_path / "out-off"), tmp_path / "unpacked-off")
    assert libpython_needed_by_readelf(files["_ext"]) == [SONAME]


def test_build_log_carries_the_notes(tmp_path: Path, wheelhouse: Path) -> None:
    """A prebuilt file for another C library (musl) in the package: its symbols are not
    checked, and the build log says so, as check does."""
    proj = make_project(tmp_path / "proj", name="fnote",
                        pyproject_extra='[tool.setuptools.package-data]\nfnote = ["*.so.1"]\n')
    (tmp_path / "stub.c").write_text("int foreign_stub;\n")
    musl = tmp_path / "libc.musl-x86_64.so.1"
    gcc(["-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libc.musl-x86_64.so.1", tmp_path / "stub.c", "-o", musl])
    gcc(["-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libforeign.so.1", tmp_path / "stub.c",
         "-Wl,--no-as-needed", musl, "-o", proj / "fnote" / "libforeign.so.1"])
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    log = output(proc)
    assert proc.returncode == 0, log[-4000:]
    (note,) = [ln for ln in _plugin_lines(log) if "built for another machine" in ln]
    assert "the wheel: note: 1 file(s) are built for another machine" in note and "musl" in note
    # The CLI says the same of the wheel.
    check = cli("check", built_wheel(tmp_path / "out"))
    assert "note: 1 file(s) are built for another machine" in check.stderr, check.stderr
