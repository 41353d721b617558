"""A library nothing checked here provides: a warning that says when the import works.

ld.so satisfies a DT_NEEDED name from any object already loaded with that SONAME. So a
module whose library is not in its wheel, not on this machine and not reached by its
RPATH still imports where something loaded the library first (the package's own ctypes
preload, another package's import) or where the system provides it. ``check`` warns
(exit 0) and gives no bundling advice; ``--strict`` and ``strict = true`` make it an
error. Wheels checked in one call satisfy each other's DT_NEEDED entries by name, as
they do once installed together and imported in order.

Every reproducer is built here by gcc and packed into a real wheel; each claim about an
import is held to a real import (and its negative control fails exactly as predicted).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import pytest
from support import import_from_wheel, make_project, pip_wheel
from support.cbuild import EXT, LINUX_TAG, check_doc, cli, make_wheel, module, problems_of, shared_library
from support.plugin_builds import output

PYTHON = Path(sys.executable)
DEP_DECL = "int dep_answer(void);"
NO_SUCH_FILE = "libdep.so: cannot open shared object file"


def missing_library(doc: dict, path: str) -> List[dict]:
    return [p for p in problems_of(doc)[path] if p["code"] == "missing-library"]


def libraries_of(doc: dict, path: str) -> List[dict]:
    (found,) = [f["libraries"] for t in doc["targets"] for f in t["files"] if f["path"] == path]
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """libdep.so (SONAME libdep.so) and modules that need it: one with no RPATH, one with $ORIGIN."""
    d = tmp_path_factory.mktemp("dep")
    lib = shared_library(d / "lib", "libdep.so")
    link = ["-L", d / "lib", "-ldep"]
    return {
        "libdep": lib,
        "no_rpath": module(d / "plain", "_uses", DEP_DECL, "dep_answer()", extra=link),
        "origin": module(d / "origin", "_a", DEP_DECL, "dep_answer()", extra=[*link, "-Wl,-rpath,$ORIGIN"]),
        "b": module(d / "b", "_b", DEP_DECL, "dep_answer()", extra=link),
    }


# ---------------------------------------------------------------- the package preloads it (ctypes)
PRELOAD_INIT = ("import ctypes, os\n"
                "ctypes.CDLL(os.path.join(os.path.dirname(__file__), 'libdep.so'))\n"
                "from . import _uses\n")


def _pre_wheel(path: Path, built: Dict[str, Path], init: str) -> Path:
    return make_wheel(path, {"pre/__init__.py": init.encode(), "pre/libdep.so": built["libdep"].read_bytes(),
                             f"pre/_uses{EXT}": built["no_rpath"].read_bytes()}, LINUX_TAG, dist="pre-1.0")


def test_ctypes_preloaded_library_imports_and_warns(built: Dict[str, Path], tmp_path: Path) -> None:
    wheel = _pre_wheel(tmp_path / f"pre-1.0-{LINUX_TAG}.whl", built, PRELOAD_INIT)
    # It really imports: the preload satisfies the module's DT_NEEDED by SONAME.
    ok = import_from_wheel(PYTHON, wheel, tmp_path / "site", "import pre; print('ANSWER', pre._uses.answer())")
    assert ok.returncode == 0 and "ANSWER 42" in ok.stdout, ok.stderr
    # Negative control: the same files without the preload fail as the warning says.
    (tmp_path / "bare").mkdir()
    bare = _pre_wheel(tmp_path / "bare" / f"pre-1.0-{LINUX_TAG}.whl", built, "from . import _uses\n")
    failed = import_from_wheel(PYTHON, bare, tmp_path / "site-bare", "import pre")
    assert failed.returncode != 0 and NO_SUCH_FILE in failed.stderr, failed.stderr

    proc = cli("check", wheel)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if "libdep.so" in ln]
    assert ": warning: needs libdep.so" in line and "ctypes" in line and "loads libdep.so first" in line
    assert "bundle" not in line, line  # it is bundled already; nothing to bundle
    (p,) = missing_library(check_doc(wheel), f"pre/_uses{EXT}")
    assert p["severity"] == "warning" and p["detail"] == "libdep.so"

    strict = cli("check", "--strict", wheel)
    assert strict.returncode == 1, strict.stdout
    assert any(": violation: needs libdep.so" in ln for ln in strict.stdout.splitlines()), strict.stdout
    (p,) = missing_library(check_doc("--strict", wheel), f"pre/_uses{EXT}")
    assert p["severity"] == "error"


# ---------------------------------------------------------------- another package ships it
@pytest.fixture(scope="module")
def pair(built: Dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Wheel A ships libdep.so and loads it from its own module ($ORIGIN); wheel B's module
    needs libdep.so with no RPATH at all."""
    d = tmp_path_factory.mktemp("pair")
    a = make_wheel(d / f"a-1.0-{LINUX_TAG}.whl", {"a/__init__.py": b"from . import _a\n",
                                                   "a/libdep.so": built["libdep"].read_bytes(),
                                                   f"a/_a{EXT}": built["origin"].read_bytes()},
                   LINUX_TAG, dist="a-1.0")
    b = make_wheel(d / f"b-1.0-{LINUX_TAG}.whl", {"b/__init__.py": b"",
                                                   f"b/_b{EXT}": built["b"].read_bytes()},
                   LINUX_TAG, dist="b-1.0")
    return {"a": a, "b": b}


def test_installed_together_b_imports_after_a(pair: Dict[str, Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    import_from_wheel(PYTHON, pair["a"], site, "pass")
    ok = import_from_wheel(PYTHON, pair["b"], site, "import a; import b._b; print('ANSWER', b._b.answer())")
    assert ok.returncode == 0 and "ANSWER 42" in ok.stdout, ok.stderr
    # Negative control: B first, nothing loaded libdep.so yet.
    alone = import_from_wheel(PYTHON, pair["b"], site, "import b._b")
    assert alone.returncode != 0 and NO_SUCH_FILE in alone.stderr, alone.stderr
    # The installed environment (a directory of *.dist-info) checked as a whole: no warning.
    proc = cli("check", site)
    assert proc.returncode == 0 and "libdep.so" not in proc.stdout, proc.stdout
    # Control: an environment with B alone warns.
    only_b = tmp_path / "only-b"
    import_from_wheel(PYTHON, pair["b"], only_b, "pass")
    proc = cli("check", only_b)
    assert proc.returncode == 0 and ": warning: needs libdep.so" in proc.stdout, proc.stdout


def test_b_alone_warns_and_passes(pair: Dict[str, Path]) -> None:
    proc = cli("check", pair["b"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if "libdep.so" in ln]
    assert ": warning: needs libdep.so" in line
    assert "the system provides libdep.so" in line and "another package's import, ctypes" in line
    assert "bundle" not in line and "auditwheel" not in line, line
    doc = check_doc(pair["b"])
    (p,) = missing_library(doc, f"b/_b{EXT}")
    assert p["severity"] == "warning"
    assert {"name": "libdep.so", "found_in": "nowhere", "path": None} in libraries_of(doc, f"b/_b{EXT}")
    assert cli("check", "--strict", pair["b"]).returncode == 1


def test_a_and_b_checked_together_give_no_warning(pair: Dict[str, Path]) -> None:
    for args in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):  # the order of the arguments does not matter
        proc = cli("check", *args)
        assert proc.returncode == 0, proc.stdout
        assert "libdep.so" not in proc.stdout, proc.stdout
        doc = check_doc(*args)
        assert missing_library(doc, f"b/_b{EXT}") == []
        (row,) = [r for r in libraries_of(doc, f"b/_b{EXT}") if r["name"] == "libdep.so"]
        assert row == {"name": "libdep.so", "found_in": "checked-with", "path": f"{pair['a']}: a/libdep.so"}
        # A's own module finds it in its wheel, through $ORIGIN.
        (row,) = [r for r in libraries_of(doc, f"a/_a{EXT}") if r["name"] == "libdep.so"]
        assert row == {"name": "libdep.so", "found_in": "wheel", "path": "a/libdep.so"}
    assert cli("check", "--strict", pair["a"], pair["b"]).returncode == 0  # control for the strict run above


# ---------------------------------------------------------------- strict = true in a build
def test_strict_table_fails_the_build(tmp_path: Path, wheelhouse: Path, built: Dict[str, Path]) -> None:
    libdir = built["libdep"].parent
    kwargs = f"extra_link_args=['-Wl,--no-as-needed', '-L{libdir}', '-ldep']"
    strict = make_project(tmp_path / "strict", name="sdep", ext_kwargs=kwargs, table_extra="strict = true\n")
    proc = pip_wheel(strict, tmp_path / "out-strict", wheelhouse)
    log = output(proc)
    assert proc.returncode != 0, log[-3000:]
    assert "violation: needs libdep.so" in log, log[-3000:]
    assert not list((tmp_path / "out-strict").glob("*.whl"))
    # Control: the same project without strict builds, and says the same thing as a warning.
    lax = make_project(tmp_path / "lax", name="sdep", ext_kwargs=kwargs)
    proc = pip_wheel(lax, tmp_path / "out-lax", wheelhouse)
    log = output(proc)
    assert proc.returncode == 0, log[-3000:]
    assert "warning: needs libdep.so" in log, log[-3000:]
