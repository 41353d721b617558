"""Link-flag filtering over argument lists (setuptools_nolibpython.linkflags): every
libpython spelling and every undefined-symbol ban leaves the link, nothing else does."""

from __future__ import annotations

from typing import List

import pytest

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
