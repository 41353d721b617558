"""The flags the plugin appends really cancel an undefined-symbol ban (``-z defs`` and
its spellings) on ld.bfd and ld.gold: real gcc links, with the failing link as negative
control. The filtering itself is tested over argument lists in tests/unit/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest
from support import require, run

from setuptools_nolibpython.linkflags import (
    ALLOW_UNDEFINED_ARGS,
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
