"""A wheel's target (tags, libc, abi3/abi3t floor, CPython builds) is one value, read once
from its tags (pybuild.WheelTarget) and handed to the symbol check as it is. Fast: no
compiler; the wheels are zip files with a WHEEL member, as a build writes them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from setuptools_nolibpython.pybuild import WheelTarget
from setuptools_nolibpython.symbols import SymbolCheck
from setuptools_nolibpython.syslibs import GLIBC, MUSL
from setuptools_nolibpython.wheeltags import wheel_target


def test_target_from_tag_strings() -> None:
    musl = WheelTarget.parse(["cp311-cp311-musllinux_1_2_x86_64"])
    assert (musl.libc, musl.builds, musl.floor, musl.stable_abi) == (MUSL, frozenset({((3, 11), "")}), None, False)
    abi3 = WheelTarget.parse(["cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64"])
    assert (abi3.libc, abi3.abi3, abi3.abi3t, abi3.floor, abi3.builds) == (GLIBC, True, False, (3, 9), frozenset())
    both = WheelTarget.parse(["cp315-abi3.abi3t-manylinux_2_34_x86_64"])
    assert (both.abi3, both.abi3t, both.floor) == (True, True, (3, 15))
    ft = WheelTarget.parse(["demo-1.0-cp314-cp314t-linux_x86_64.whl"])  # a file name reads the same
    assert (ft.libc, ft.builds) == (None, frozenset({((3, 14), "t")}))
    mixed = WheelTarget.parse(["cp311-cp311-musllinux_1_2_x86_64", "cp311-cp311-manylinux_2_17_x86_64"])
    assert mixed.libc is None  # the platforms disagree: no libc promised
    assert WheelTarget.parse(["not a tag"]) == WheelTarget()


def test_wheel_file_gives_the_target_the_check_uses(tmp_path: Path) -> None:
    """A renamed wheel: WHEEL's Tag line is the target, and the symbol check takes that
    value as it is (the same fields as from the tag strings)."""
    path = tmp_path / "demo-1.0-cp311-abi3-linux_x86_64.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp39-abi3-musllinux_1_2_x86_64\n")
    target, mismatch = wheel_target(str(path))
    assert target == WheelTarget.parse(["cp39-abi3-musllinux_1_2_x86_64"])
    assert mismatch is not None and "cp311-abi3-linux_x86_64" in mismatch
    check = SymbolCheck(wheel_tags=target)
    assert check.target is target
    assert (check.limited_api, check.wheel_libc, check.abi3_wheel) == ((3, 9), MUSL, True)
    assert SymbolCheck(wheel_tags=target, limited_api="3.12").limited_api == (3, 12)  # explicit wins
