"""Which DT_NEEDED libraries count as the system's: what the manylinux and musllinux
policies allow (held to auditwheel's own policy files, from the auditwheel that
requirements-dev.txt installs), and not everything."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path
from typing import Dict, Set, Tuple

from support import require

from setuptools_nolibpython import syslibs


def test_system_library_list_follows_the_policies() -> None:
    for name in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                 "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libc.musl-x86_64.so.1",
                 "libc.musl-aarch64.so.1", "ld-musl-x86_64.so.1", "libz.so.1"):
        assert syslibs.is_system_library(name), name
    for name in ("libfoo.so.1", "libssl.so.3", "libpython3.11.so.1.0", "libgfortran.so.5", "libc.so.7"):
        assert not syslibs.is_system_library(name), name  # control: the list is not "everything"


#: The architectures whose policies the list must cover.
ARCHES = ("x86_64", "aarch64")


def policy_libraries() -> Dict[Tuple[str, str], Set[str]]:
    """{(policy name, arch): lib_whitelist} of every manylinux and musllinux policy for x86_64
    and aarch64, read from the installed auditwheel package's policy directory."""
    spec = find_spec("auditwheel")
    require(spec is not None and spec.origin, "auditwheel is needed (requirements-dev.txt)")
    assert spec is not None and spec.origin is not None
    policy_dir = Path(spec.origin).parent / "policy"
    out: Dict[Tuple[str, str], Set[str]] = {}
    for family in ("manylinux", "musllinux"):
        for policy in json.loads((policy_dir / f"{family}-policy.json").read_text()):
            for arch in ARCHES:
                if arch in policy["symbol_versions"]:
                    out[(policy["name"], arch)] = set(policy["lib_whitelist"])
    return out


def test_every_policy_library_counts_as_a_system_library() -> None:
    policies = policy_libraries()
    # the reading is what it claims: both families, both arches, the names README promises
    expected = {("manylinux_2_5", "x86_64"), ("manylinux_2_17", "aarch64"), ("manylinux_2_28", "x86_64"),
                ("manylinux_2_28", "aarch64"), ("musllinux_1_2", "x86_64"), ("musllinux_1_2", "aarch64")}
    assert expected <= set(policies), sorted(policies)
    every = set().union(*policies.values())
    assert {"libGL.so.1", "libc.so.6", "libstdc++.so.6", "libc.so", "libz.so.1"} <= every
    missing = {key: sorted(n for n in names if not syslibs.is_system_library(n)) for key, names in policies.items()}
    assert not any(missing.values()), {k: v for k, v in missing.items() if v}
    # negative control: libraries of no policy are not system libraries (the test can fail)
    for name in ("libssl.so.3", "libpython3.11.so.1.0", "libgfortran.so.5", "libGLU.so.1", "libmvec.so.2"):
        assert name not in every and not syslibs.is_system_library(name), name
