"""Filtered link flags at real gcc links: the flags the plugin appends really cancel an
undefined-symbol ban (``-z defs`` and its spellings) on ld.bfd and ld.gold, and the
two-word ``--library`` spellings it strips really linked libpython. The failing (or
libpython-linking) link is the negative control. The filtering itself is tested over
argument lists in tests/unit/."""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import List

import pytest
from support import readelf_needed, require, run

from setuptools_nolibpython.linkflags import (
    ALLOW_UNDEFINED_ARGS,
    LIBPYTHON,
    filter_link_args,
    with_allow_undefined,
)

# ---------------------------------------------------------------- real linkers

C_SOURCE = "extern void *PyLong_FromLong(long);\nvoid *f(void) { return PyLong_FromLong(1); }\n"


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("gcc"), "gcc is needed")
    d = tmp_path_factory.mktemp("link")
    (d / "t.c").write_text(C_SOURCE)
    run(["gcc", "-c", "-fPIC", str(d / "t.c"), "-o", str(d / "t.o")], check=True)
    return d / "t.o"


def _link(obj: Path, linker: str, args: List[str]) -> subprocess.CompletedProcess:
    out = obj.with_name(f"out-{linker}.so")
    if out.exists():
        out.unlink()
    return run(["gcc", f"-fuse-ld={linker}", "-shared", str(obj), "-o", str(out), *args])


BANS = [["-Wl,-z,defs"], ["-Wl,--no-undefined"], ["-zdefs"], ["-Wl,-z", "-Wl,defs"],
        ["-Wl,--unresolved-symbols=report-all"]]


@pytest.mark.parametrize("linker", ["bfd", "gold"])
@pytest.mark.parametrize("ban", BANS, ids=[" ".join(b) for b in BANS])
def test_appended_flags_cancel_undefined_bans(obj: Path, linker: str, ban: List[str]) -> None:
    require(shutil.which(f"ld.{linker}"), f"ld.{linker} is needed")
    # negative control: the ban really makes the link fail on this linker
    bad = _link(obj, linker, ban)
    assert bad.returncode != 0
    assert "PyLong_FromLong" in bad.stderr
    # --allow-shlib-undefined alone is not enough: it covers only symbols of shared libraries linked against
    half = _link(obj, linker, [*ban, ALLOW_UNDEFINED_ARGS[0]])
    assert half.returncode != 0
    # the ban left in place, our flags appended: the link succeeds (last option wins)
    ok = _link(obj, linker, with_allow_undefined(ban))
    assert ok.returncode == 0, ok.stderr
    # what the plugin really does: filter, then append
    filtered, changes = filter_link_args(ban)
    assert filtered == [] and changes
    ok2 = _link(obj, linker, with_allow_undefined(filtered))
    assert ok2.returncode == 0, ok2.stderr
    out = obj.with_name(f"out-{linker}.so")
    syms = run(["nm", "-D", "--undefined-only", str(out)], check=True).stdout
    assert "PyLong_FromLong" in syms  # stays undefined, to be resolved by the interpreter


#: The two-word spellings of ``--library`` (the one-word ``--library=python3.11`` is in CASES).
TWO_WORD_LIBRARY = [["-Wl,--library,python3.11"], ["-Xlinker", "--library", "-Xlinker", "python3.11"]]


@pytest.mark.parametrize("form", TWO_WORD_LIBRARY, ids=" ".join)
def test_two_word_library_forms_are_stripped(obj: Path, form: List[str]) -> None:
    """gcc passes both forms to ld, which links libpython; filtered, the module needs none.
    (-L names the interpreter's lib dir; --no-as-needed keeps the DT_NEEDED gcc would drop.)"""
    libdir = sysconfig.get_config_var("LIBDIR")
    require((Path(libdir) / f"libpython{sysconfig.get_config_var('LDVERSION')}.so").exists(),
            f"a shared libpython in {libdir}")
    link = [f"-L{libdir}", "-Wl,--no-as-needed"]
    out = obj.with_name("out-bfd.so")
    # negative control: the form as written really reaches the linker and links libpython
    assert _link(obj, "bfd", [*link, *form]).returncode == 0
    assert [n for n in readelf_needed(out) if n.startswith("libpython")], readelf_needed(out)
    filtered, changes = filter_link_args([*link, *form])
    assert filtered == link and [c.reason for c in changes] == [LIBPYTHON] * len(changes) and changes
    ok = _link(obj, "bfd", with_allow_undefined(filtered))
    assert ok.returncode == 0, ok.stderr
    assert not [n for n in readelf_needed(out) if n.startswith("libpython")], readelf_needed(out)
