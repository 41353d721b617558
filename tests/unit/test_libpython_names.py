"""Every spelling of libpython (names.py lists them) is recognised; near-misses are not."""

from __future__ import annotations

import pytest

from setuptools_nolibpython.names import is_libpython_filename, is_libpython_libname

LIBPYTHON_FILES = [
    "libpython3.11.so.1.0",
    "libpython3.11.so",
    "libpython3.7m.so.1.0",
    "libpython3.11d.so.1.0",  # debug
    "libpython3.13t.so.1.0",  # free-threaded
    "libpython3.14td.so.1.0",  # free-threaded debug
    "libpython3.so",  # stable-ABI shim
    "libpython2.7.so.1.0",
    "libpython2.7.so",
    "libpython3.6m.so",
    "libpython3.10.so.1",
    "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0",  # DT_NEEDED holding a path
    "libpython3.11.a",
    "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a",
    "libpython3.13t.a",
    "libpython3.11-pic.a",  # Debian's position-independent archive (links into a .so)
    "/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11-pic.a",
]

NOT_LIBPYTHON_FILES = [
    "libpythonista.so",
    "libpython-foo.so",
    "libpython.so",
    "libpython3.11.so.1.0.bak",
    "libpython3.11.sox",
    "libpython3.11.dylib",
    "python3.11.so",
    "libboost_python311.so",
    "libboost_python3.so.1.74.0",
    "libpython3.11-embed.so",
    "libpython3.11-pic.so",
    "libpython3.11-pic.a.o",
    "libpython3.11x.so",
    "libpython4.0.so",
    "libpython3.11.so.1.0/",
    "mylibpython3.11.so",
    "libpython3.11.a.o",
    "libc.so.6",
    "",
]


@pytest.mark.parametrize("name", LIBPYTHON_FILES)
def test_filename_matches(name: str) -> None:
    assert is_libpython_filename(name)


@pytest.mark.parametrize("name", NOT_LIBPYTHON_FILES)
def test_filename_near_misses(name: str) -> None:
    assert not is_libpython_filename(name)


@pytest.mark.parametrize(
    ("name", "static"),
    [
        ("libpython3.11.a", True),
        ("/x/config-3.11/libpython3.11.a", True),
        ("libpython2.7.a", True),
        ("libpython3.11-pic.a", True),
        ("libpython3.11.so", False),
        ("libpython3.11.so.1.0", False),
        ("libpythonista.a", False),
        ("libfoo.a", False),
    ],
)
def test_static(name: str, static: bool) -> None:
    """A static libpython archive is a libpython name too (linking it embeds a second runtime)."""
    assert (is_libpython_filename(name) and name.endswith(".a")) is static


@pytest.mark.parametrize(
    "name",
    [
        "python3.11",
        "python3",
        "python2.7",
        "python3.7m",
        "python3.11d",
        "python3.13t",
        "python3.14td",
        "python2.7u",
        "python3.11-pic",
        ":libpython3.11-pic.a",
        ":libpython3.11.so.1.0",
        ":libpython3.so",
        ":libpython3.11.a",
    ],
)
def test_libname_matches(name: str) -> None:
    assert is_libpython_libname(name)


@pytest.mark.parametrize(
    "name",
    [
        "pythonista",
        "python-foo",
        "python",
        "python3.11x",
        "python3-embed",
        "python3.11-embed",
        "python3.11-pic.a",
        "boost_python311",
        "libpython3.11",  # -llibpython3.11 would look for liblibpython3.11.so
        ":libpythonista.so",
        ":libpython.so",
        ":",
        "m",
        "",
    ],
)
def test_libname_near_misses(name: str) -> None:
    assert not is_libpython_libname(name)


def test_auditwheel_pattern_misses_what_we_catch() -> None:
    """Negative control: auditwheel's own pattern (read from the installed auditwheel, not
    copied here) misses forms we must catch, and catches the plain ones we catch too."""
    try:
        from auditwheel.lddtree import LIBPYTHON_RE
    except ImportError as exc:  # moved or renamed in another auditwheel release
        pytest.fail(f"auditwheel's libpython pattern is not where this test looks for it: {exc}")
    missed = [n for n in LIBPYTHON_FILES if "/" not in n and not LIBPYTHON_RE.match(n)]
    assert {"libpython3.11d.so.1.0", "libpython3.13t.so.1.0", "libpython3.so"} <= set(missed)
    assert all(is_libpython_filename(n) for n in missed)
    assert LIBPYTHON_RE.match("libpython3.11.so.1.0") and is_libpython_filename("libpython3.11.so.1.0")
