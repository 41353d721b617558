"""Each key of ``[tool.setuptools-nolibpython]`` changes what the build step does, on both
of its paths: a tree before it is zipped (enforce, the setuptools path) and a finished
wheel (enforce_wheel, the PEP 517 wrapper's path). Real gcc-built modules that link
libpython with a RUNPATH to the interpreter's lib dir; readelf judges the result; each key
is shown against its default, so a key that is ignored fails here."""

from __future__ import annotations

import shutil
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
from support import readelf_dynamic, unpack_wheel
from support.cbuild import libpython_module_wheel

from setuptools_nolibpython.config import Config
from setuptools_nolibpython.enforce import enforce, enforce_wheel
from setuptools_nolibpython.errors import ViolationError

LIBDIR = sysconfig.get_config_var("LIBDIR")
SONAME = f"libpython{sysconfig.get_config_var('LDVERSION')}.so.1.0"


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return libpython_module_wheel(tmp_path_factory.mktemp("keys"))


def _member(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".so")]
    return name


def dynamic(path: Path) -> Dict[str, List[str]]:
    dyn = readelf_dynamic(path)
    return {"libpython": [n for n in dyn["NEEDED"] if n.startswith("libpython")], "paths": dyn["RPATH"] + dyn["RUNPATH"]}


def after_wheel(original: Path, tmp: Path, config: Config) -> Dict[str, List[str]]:
    """enforce_wheel on a copy; what the module in the resulting wheel needs and searches."""
    tmp.mkdir()
    wheel = Path(shutil.copy2(original, tmp / original.name))
    enforce_wheel(str(wheel), config)
    return dynamic(unpack_wheel(wheel, tmp / "tree") / _member(wheel))


def after_tree(original: Path, tmp: Path, config: Config) -> Dict[str, List[str]]:
    """enforce on the unpacked tree (what bdist_wheel hands the setuptools path)."""
    tree = unpack_wheel(original, tmp / "tree")
    rel = _member(original)
    enforce([(rel, str(tree / rel))], config, str(tree))
    return dynamic(tree / rel)


AFTER = {"wheel": after_wheel, "tree": after_tree}
REPAIR = Config(enable=True, on_violation="repair")


def test_the_module_links_libpython_with_a_runpath(original: Path, tmp_path: Path) -> None:
    """The premise of every test here (readelf on the module as built)."""
    tree = unpack_wheel(original, tmp_path)
    assert dynamic(tree / _member(original)) == {"libpython": [SONAME], "paths": [LIBDIR]}


@pytest.mark.parametrize("path", sorted(AFTER))
def test_on_violation_error_warn_repair(original: Path, tmp_path: Path, path: str) -> None:
    with pytest.raises(ViolationError, match=f"needs {SONAME}"):  # the default fails the build
        AFTER[path](original, tmp_path / "error", Config(enable=True))
    warned = AFTER[path](original, tmp_path / "warn", Config(enable=True, on_violation="warn", strip_rpath=False))
    assert warned == {"libpython": [SONAME], "paths": [LIBDIR]}  # reported, shipped as built
    assert AFTER[path](original, tmp_path / "repair", REPAIR) == {"libpython": [], "paths": []}


@pytest.mark.parametrize("path", sorted(AFTER))
def test_strip_rpath_false_keeps_the_runpath(original: Path, tmp_path: Path, path: str) -> None:
    kept = AFTER[path](original, tmp_path / "keep", Config(enable=True, on_violation="repair", strip_rpath=False))
    assert kept == {"libpython": [], "paths": [LIBDIR]}
    # the default (strip-rpath = true) drops it; without repair, only the RPATH part applies
    assert AFTER[path](original, tmp_path / "strip", REPAIR) == {"libpython": [], "paths": []}
    warned = AFTER[path](original, tmp_path / "warn", Config(enable=True, on_violation="warn"))
    assert warned == {"libpython": [SONAME], "paths": []}


@pytest.mark.parametrize("path", sorted(AFTER))
def test_allow_keeps_libpython_under_repair(original: Path, tmp_path: Path, path: str) -> None:
    allowed = AFTER[path](original, tmp_path / "allow", Config(enable=True, on_violation="repair", allow=("probe/*",)))
    assert allowed["libpython"] == [SONAME]  # an allowed file embeds Python on purpose: left as it is
    # and the verdict passes it: under on-violation = "error" too
    AFTER[path](original, tmp_path / "allow-error", Config(enable=True, allow=("probe/*",)))
    # control: a glob that matches nothing allows nothing
    assert AFTER[path](original, tmp_path / "other", Config(enable=True, on_violation="repair",
                                                            allow=("other/*",)))["libpython"] == []
