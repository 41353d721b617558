"""`--allow` / `allow = [...]` globs match path segments (`*` stays in one directory,
`**` crosses them), the same in the policy, in `check` and in `repair`."""

from __future__ import annotations

from pathlib import Path

import pytest
from elfgen import ElfSpec
from elfgen import write as write_elf
from support.cbuild import (
    LDVERSION,
    PY_TAG,
    check_doc,
    cli,
    make_wheel,
)

from setuptools_nolibpython.globs import match_path
from setuptools_nolibpython.policy import is_allowed


@pytest.mark.parametrize("pattern, path, expected", [
    ("pkg/*.so", "pkg/x.so", True),
    ("pkg/*.so", "pkg/sub/x.so", False),  # fnmatch's '*' crossed '/'
    ("pkg/**/*.so", "pkg/x.so", True),
    ("pkg/**/*.so", "pkg/sub/deeper/x.so", True),
    ("**/x.so", "x.so", True),
    ("**/x.so", "a/b/x.so", True),
    ("*.so", "pkg/x.so", False),
    ("pkg/**", "pkg/a/b", True),
    ("pkg/?.so", "pkg/x.so", True),
    ("pkg/[xy].so", "pkg/z.so", False),
])
def test_allow_glob_segments(pattern: str, path: str, expected: bool) -> None:
    assert match_path(path, pattern) is expected
    assert is_allowed(path, [pattern]) is expected


def test_allow_glob_in_check_and_repair(tmp_path: Path) -> None:
    libpy = f"libpython{LDVERSION}.so.1.0"
    top = write_elf(tmp_path / "top.so", ElfSpec(needed=(libpy, "libc.so.6"), soname="top.so")).read_bytes()
    wheel = make_wheel(tmp_path / f"probe-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"pkg/x.so": top, "pkg/sub/y.so": top}, f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    one = check_doc("--check-symbols", "off", "--allow", "pkg/*.so", wheel)
    verdicts = {f["path"]: f["verdict"] for f in one["targets"][0]["files"]}
    assert verdicts == {"pkg/x.so": "allowed", "pkg/sub/y.so": "violation"}
    both = check_doc("--check-symbols", "off", "--allow", "pkg/**/*.so", wheel)
    assert {f["verdict"] for f in both["targets"][0]["files"]} == {"allowed"}
    rep = cli("repair", "--allow", "pkg/*.so", wheel, "-w", tmp_path / "out")
    assert "pkg/x.so: allowed" in rep.stdout and "pkg/sub/y.so: removed DT_NEEDED" in rep.stdout
