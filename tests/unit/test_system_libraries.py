"""Which DT_NEEDED libraries count as the system's: what the manylinux and musllinux
policies allow, and not everything."""

from __future__ import annotations

from setuptools_nolibpython import syslibs


def test_system_library_list_follows_the_policies() -> None:
    for name in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                 "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libc.musl-x86_64.so.1",
                 "libc.musl-aarch64.so.1", "ld-musl-x86_64.so.1", "libz.so.1"):
        assert syslibs.is_system_library(name), name
    for name in ("libfoo.so.1", "libssl.so.3", "libpython3.11.so.1.0", "libgfortran.so.5", "libc.so.7"):
        assert not syslibs.is_system_library(name), name  # control: the list is not "everything"
