"""C++ extensions: setuptools links them with ``linker_so_cxx`` (LDCXXSHARED plus LDFLAGS),
not ``linker_so``, so hostile LDFLAGS reach that command too. A real `pip wheel` build of a
C++ module with ``LDFLAGS=-Wl,--no-as-needed -lpython3.11`` (gcc links with --as-needed:
without --no-as-needed the library would be dropped anyway). Negative control: the same
build without the plugin links libpython."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support import (
    DEFAULT_C,
    built_wheel,
    import_and_locate,
    in_parallel,
    libpython_needed_by_readelf,
    make_project,
    pip_wheel,
    readelf_needed,
    unpack_wheel,
)

LIBDIR = sysconfig.get_config_var("LIBDIR")
LDVERSION = sysconfig.get_config_var("LDVERSION")
HOSTILE_LDFLAGS = f"-L{LIBDIR} -Wl,--no-as-needed -lpython{LDVERSION}"

#: The module in C++ for real: std::string makes it need libstdc++ (the C++ link is the one used).
CXX_SOURCE = "#include <string>\n" + (DEFAULT_C % {"name": "_cxx"}).replace(
    "return PyLong_FromLong(42);", 'return PyLong_FromLong(std::string("forty-two").size() * 0 + 42);')
SETUP_PY = """from setuptools import Extension, setup
setup(ext_modules=[Extension("cxxprobe._cxx", ["cxxprobe/_cxx.cpp"], language="c++")])
"""


def _build(root: Path, wheelhouse: Path, enable: bool) -> Tuple[int, str, Path]:
    proj = make_project(root / "src", name="cxxprobe", enable=True if enable else None, setup_py=SETUP_PY,
                        modules=(), extra_files={"cxxprobe/_cxx.cpp": CXX_SOURCE})
    proc = pip_wheel(proj, root / "dist", wheelhouse, env={"LDFLAGS": HOSTILE_LDFLAGS})
    return proc.returncode, proc.stdout + proc.stderr, root / "dist"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Dict[str, Tuple[int, str, Path]]:
    root = tmp_path_factory.mktemp("cxx")
    on, off = in_parallel(lambda: _build(root / "on", wheelhouse, True),
                          lambda: _build(root / "off", wheelhouse, False))
    return {"plugin": on, "plain": off}


def _module(dist: Path, dest: Path) -> Path:
    (so,) = sorted(unpack_wheel(built_wheel(dist), dest).rglob("_cxx*.so"))
    return so


def test_cxx_extension_with_hostile_ldflags_links_without_libpython(
    builds: Dict[str, Tuple[int, str, Path]], tmp_path: Path
) -> None:
    # negative control: without the plugin the C++ link takes LDFLAGS' libpython
    rc, log, dist = builds["plain"]
    assert rc == 0, log[-4000:]
    plain = _module(dist, tmp_path / "plain")
    assert "libstdc++.so.6" in readelf_needed(plain)  # linked as C++
    assert libpython_needed_by_readelf(plain) == [f"libpython{LDVERSION}.so.1.0"]
    # with the plugin: the same build, libpython filtered out of the C++ link command
    rc, log, dist = builds["plugin"]
    assert rc == 0, log[-4000:]
    assert f"removed '-lpython{LDVERSION}' (libpython) from the linker command (LDSHARED/LDFLAGS)" in log, log[-4000:]
    fixed = _module(dist, tmp_path / "plugin")
    assert "libstdc++.so.6" in readelf_needed(fixed)
    assert libpython_needed_by_readelf(fixed) == []
    (where,) = import_and_locate(Path(sys.executable), f"import sys; sys.path.insert(0, {str(tmp_path / 'plugin')!r})",
                                 ["cxxprobe._cxx"])
    assert where == fixed
