"""``allow`` means "may link libpython": the file embeds Python on purpose.

It waives the libpython finding and nothing else: a module with an undefined symbol
that cannot import still fails, allowed files get no "list it in allow" fix, the
summary counts them as allowed to link libpython, and a pattern that matches no file is
reported. Modules are built by gcc; the undefined symbol is held to a real import.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import import_from_wheel
from support.cbuild import EXT, LDVERSION, LIBDIR, LINUX_TAG, check_doc, cli, make_wheel, module, problems_of

LINK = [f"-L{LIBDIR}", f"-lpython{LDVERSION}", "-Wl,--no-as-needed", f"-Wl,-rpath,{LIBDIR}"]
SONAME = f"libpython{LDVERSION}.so.1.0"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("allow")
    broken = module(d / "b", "_emb", "int nolibpython_allow_missing(void);", "nolibpython_allow_missing()",
                    extra=LINK)
    linked = module(d / "l", "_emb", extra=LINK)
    return {name: make_wheel(d / f"{name}-1.0-{LINUX_TAG}.whl", {f"{name}/__init__.py": b"",
                                                               f"{name}/_emb{EXT}": so.read_bytes()},
                             LINUX_TAG, dist=f"{name}-1.0")
            for name, so in (("broken", broken), ("linked", linked))}


def test_allow_does_not_waive_an_undefined_symbol(wheels: dict, tmp_path: Path) -> None:
    wheel = wheels["broken"]
    member = f"broken/_emb{EXT}"
    # The module cannot import, whatever allow says.
    proc = import_from_wheel(Path(sys.executable), wheel, tmp_path / "site", "import broken._emb")
    assert proc.returncode != 0 and "undefined symbol: nolibpython_allow_missing" in proc.stderr, proc.stderr
    proc = cli("check", "--allow", "broken/*.so", wheel)
    assert proc.returncode == 1, proc.stdout
    lines = proc.stdout.splitlines()
    (lib,) = [ln for ln in lines if SONAME in ln]
    assert lib == f"{wheel}: {member}: allowed: needs {SONAME} (DT_NEEDED); allowed to link libpython (matches allow)"
    (sym,) = [ln for ln in lines if "nolibpython_allow_missing" in ln]
    assert f"{member}: violation: undefined symbol nolibpython_allow_missing" in sym
    assert lines[-1] == f"checked 1 ELF file in {wheel}: 1 fails the symbol checks (1 allowed to link libpython)"
    doc = check_doc("--allow", "broken/*.so", wheel)
    (f,) = doc["targets"][0]["files"]
    assert f["verdict"] == "violation" and f["allowed"] is True
    assert [p["fix"] for p in problems_of(doc)[member] if p["code"] == "needs-libpython"] == [""]


def test_allow_waives_a_libpython_link_control(wheels: dict) -> None:
    wheel = wheels["linked"]
    proc = cli("check", "--allow", "linked/*.so", wheel)
    assert proc.returncode == 0, proc.stdout
    assert "list it in allow" not in proc.stdout
    assert proc.stdout.splitlines()[-1] == f"checked 1 ELF file in {wheel}: none needs libpython (1 allowed to link libpython)"
    # Without allow the same file fails, and then the fix mentions allow.
    proc = cli("check", wheel)
    assert proc.returncode == 1 and "list it in allow" in proc.stdout


def test_pattern_matching_no_file_is_reported(wheels: dict) -> None:
    proc = cli("check", "--allow", "linked/*.so", "--allow", "linkd/*.so", wheels["linked"])
    assert proc.returncode == 0
    assert "warning: --allow linkd/*.so matches no ELF file in the targets checked" in proc.stdout.splitlines()
    assert "--allow linked/*.so" not in proc.stdout  # control: the pattern that matches is not reported
    assert check_doc("--allow", "linkd/*.so", "--allow", "linked/*.so", wheels["linked"])["unused_allow"] == [
        "linkd/*.so"]
