"""abi3t (PEP 803) and free-threaded names and wheel tags, judged without any interpreter:
the pure rules the symbol check applies to such files."""

from __future__ import annotations


def test_abi3t_names_and_tags_without_the_chroot() -> None:
    """The pure rules, on any machine: which names and tags make an abi3t module, its floor."""
    from setuptools_nolibpython.pybuild import is_abi3_name, is_abi3t_name, parse_wheel_tags
    from setuptools_nolibpython.symbols import SymbolCheck

    assert is_abi3t_name("pkg/_m.abi3t.so") and is_abi3t_name("_m.abi3t-x86_64-linux-gnu.so")
    assert is_abi3_name("_m.abi3t.so") and is_abi3_name("_m.abi3-x86_64-linux-gnu.so")
    assert not is_abi3t_name("_m.abi3.so") and not is_abi3_name("_m.cpython-315t-x86_64-linux-gnu.so")
    assert parse_wheel_tags(["cp315-abi3.abi3t-manylinux_2_34_x86_64"]) == ({"cp315"}, {"abi3", "abi3t"})
    low = SymbolCheck(wheel_tags=["cp312-abi3t-linux_x86_64"])
    assert low.abi3t_wheel and low.limited_api == (3, 12) and low.abi3t_target == (3, 15)
    assert any("claims cp312-abi3t" in n for n in low.notes), low.notes
    high = SymbolCheck(wheel_tags=["cp316-abi3t-linux_x86_64"])
    assert high.abi3t_target == (3, 16) and not high.notes
