"""Link-flag filtering: every way of naming libpython or forbidding undefined symbols
goes, unrelated arguments stay; and the appended flags really cancel ``-z defs`` on
ld.bfd and ld.gold (real gcc links, with the failing link as negative control)."""

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
    NO_UNDEFINED,
    filter_libraries,
    filter_link_args,
    filter_objects,
    with_allow_undefined,
)

LIB = "/root/.pyenv/versions/3.11.7/lib"

# (input args, expected output args, reasons of the changes in order)
CASES = [
    # -l forms, every ABI flag
    (["-lpython3.11"], [], [LIBPYTHON]),
    (["-lpython3"], [], [LIBPYTHON]),
    (["-lpython3.7m"], [], [LIBPYTHON]),
    (["-lpython3.11d"], [], [LIBPYTHON]),
    (["-lpython3.13t"], [], [LIBPYTHON]),
    (["-lpython3.14td"], [], [LIBPYTHON]),
    (["-lpython2.7"], [], [LIBPYTHON]),
    (["-lpython2.7u"], [], [LIBPYTHON]),
    (["-l", "python3.11"], [], [LIBPYTHON, LIBPYTHON]),
    (["-l:libpython3.11.so.1.0"], [], [LIBPYTHON]),
    (["-l:libpython3.11.a"], [], [LIBPYTHON]),
    (["-l", ":libpython3.so"], [], [LIBPYTHON, LIBPYTHON]),
    # paths to the library
    ([f"{LIB}/libpython3.11.so"], [], [LIBPYTHON]),
    ([f"{LIB}/libpython3.11.so.1.0"], [], [LIBPYTHON]),
    ([f"{LIB}/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a"], [], [LIBPYTHON]),
    (["libpython3.11.so"], [], [LIBPYTHON]),
    (["/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11-pic.a"], [], [LIBPYTHON]),
    (["-l:libpython3.11-pic.a"], [], [LIBPYTHON]),
    (["-lpython3.11-pic"], [], [LIBPYTHON]),
    # inside -Wl, lists: other words are kept in one rebuilt list
    (["-Wl,-lpython3.11"], [], [LIBPYTHON]),
    (["-Wl,--library=python3.11"], [], [LIBPYTHON]),
    (["-Wl,--library,python3.11"], [], [LIBPYTHON]),
    (["-Wl,-O1,--library,python3.11,--as-needed"], ["-Wl,-O1,--as-needed"], [LIBPYTHON]),
    (["-Wl,--library", "-Wl,python3.11"], [], [LIBPYTHON, LIBPYTHON]),
    (["-Xlinker", "--library", "-Xlinker", "python3.11"], [], [LIBPYTHON, LIBPYTHON]),
    (["-Wl,--library,pythonista"], ["-Wl,--library,pythonista"], []),
    (["-Wl,-O1,-lpython3.11,--as-needed"], ["-Wl,-O1,--as-needed"], [LIBPYTHON]),
    ([f"-Wl,{LIB}/libpython3.11.so,-O1"], ["-Wl,-O1"], [LIBPYTHON]),
    (["-Wl,-z,defs,-z,now"], ["-Wl,-z,now"], [NO_UNDEFINED]),
    (["-Wl,--no-undefined,-rpath,/opt/x"], ["-Wl,-rpath,/opt/x"], [NO_UNDEFINED]),
    # -Xlinker pairs
    (["-Xlinker", "-lpython3.11"], [], [LIBPYTHON]),
    (["-Xlinker", "--no-undefined"], [], [NO_UNDEFINED]),
    (["-Xlinker", "-z", "-Xlinker", "defs"], [], [NO_UNDEFINED, NO_UNDEFINED]),
    (["-Xlinker", "-z", "-Xlinker", "relro"], ["-Xlinker", "-z", "-Xlinker", "relro"], []),
    # undefined-symbol bans in every spelling
    (["-Wl,-z,defs"], [], [NO_UNDEFINED]),
    (["-Wl,-z", "-Wl,defs"], [], [NO_UNDEFINED, NO_UNDEFINED]),
    (["-zdefs"], [], [NO_UNDEFINED]),
    (["-Wl,-zdefs"], [], [NO_UNDEFINED]),
    (["-z", "defs"], [], [NO_UNDEFINED, NO_UNDEFINED]),
    (["-Wl,--no-undefined"], [], [NO_UNDEFINED]),
    (["-Wl,-no-undefined"], [], [NO_UNDEFINED]),
    (["-Wl,--no-allow-shlib-undefined"], [], [NO_UNDEFINED]),
    (["-Wl,--unresolved-symbols=report-all"], [], [NO_UNDEFINED]),
    (["-Wl,--unresolved-symbols=ignore-in-shared-libs"], [], [NO_UNDEFINED]),
    # unrelated arguments survive untouched
    ([f"-Wl,-rpath,{LIB}"], [f"-Wl,-rpath,{LIB}"], []),
    ([f"-L{LIB}"], [f"-L{LIB}"], []),
    (["-lpythonista", "-lpython-foo", "-lm"], ["-lpythonista", "-lpython-foo", "-lm"], []),
    (["-l:libpythonista.so"], ["-l:libpythonista.so"], []),
    (["-lboost_python311"], ["-lboost_python311"], []),
    (["-z", "relro", "-Wl,-z,now"], ["-z", "relro", "-Wl,-z,now"], []),
    (["-Wl,-z", "-Wl,now"], ["-Wl,-z", "-Wl,now"], []),
    (["-Wl,--unresolved-symbols=ignore-all"], ["-Wl,--unresolved-symbols=ignore-all"], []),
    (["-Wl,--no-undefined-version"], ["-Wl,--no-undefined-version"], []),
    (["-Wl,-z,undefs", "-Wl,-z,nodelete"], ["-Wl,-z,undefs", "-Wl,-z,nodelete"], []),
    (["-shared", "-o", "out.so", "x.o"], ["-shared", "-o", "out.so", "x.o"], []),
    (["/opt/libpythonista.so"], ["/opt/libpythonista.so"], []),
    # a realistic mix: LDSHARED of a pyenv build plus what projects add
    (
        ["gcc", "-shared", f"-L{LIB}", f"-Wl,-rpath,{LIB}", "-lpython3.11", "-Wl,-z,defs", "-lm", "-Wl,-O1"],
        ["gcc", "-shared", f"-L{LIB}", f"-Wl,-rpath,{LIB}", "-lm", "-Wl,-O1"],
        [LIBPYTHON, NO_UNDEFINED],
    ),
]


@pytest.mark.parametrize(("args", "expected", "reasons"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_filter_link_args(args: List[str], expected: List[str], reasons: List[str]) -> None:
    out, changes = filter_link_args(args)
    assert out == expected
    assert [c.reason for c in changes] == reasons
    for change in changes:
        assert change.original in " ".join(args)
        text = change.describe()
        assert repr(change.original) in text and change.reason in text
    # filtering is idempotent: the output has nothing left to remove
    assert filter_link_args(out) == (out, [])


def test_combined_list_change_is_a_rewrite() -> None:
    _out, changes = filter_link_args(["-Wl,-O1,-lpython3.11,--as-needed"])
    assert changes[0].replacement == "-Wl,-O1,--as-needed"
    assert "rewrote" in changes[0].describe()


def test_filter_libraries() -> None:
    libs = ["m", "python3.11", "pythonista", "python3", ":libpython3.11.so.1.0", "python3.13t", "ssl"]
    kept, changes = filter_libraries(libs)
    assert kept == ["m", "pythonista", "ssl"]
    assert [c.original for c in changes] == ["python3.11", "python3", ":libpython3.11.so.1.0", "python3.13t"]


def test_filter_objects() -> None:
    objs = ["a.o", f"{LIB}/libpython3.11.so", "libpython3.11.a", "libpythonista.so", "/x/libpython3.so", "b.a",
            "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11-pic.a"]
    kept, changes = filter_objects(objs)
    assert kept == ["a.o", "libpythonista.so", "b.a"]
    assert len(changes) == 4


def test_with_allow_undefined_appends_last_once() -> None:
    args = ["-Wl,-O1", ALLOW_UNDEFINED_ARGS[1], "-lm"]
    out = with_allow_undefined(args)
    assert out[-len(ALLOW_UNDEFINED_ARGS):] == list(ALLOW_UNDEFINED_ARGS)
    assert out[:2] == ["-Wl,-O1", "-lm"]
    assert with_allow_undefined(out) == out
    assert args == ["-Wl,-O1", ALLOW_UNDEFINED_ARGS[1], "-lm"]  # input not edited


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
