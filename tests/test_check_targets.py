"""What ``nolibpython check`` opens: every wheel under a directory as its own target, no
virtual environment walked, and one line for a target in which nothing was checked.

A CI gate points ``check`` at ``dist/``: a wheel in it that links libpython must fail
the job (exit 1), and a clean one must be seen to be checked. Every wheel is a real zip
around gcc-built modules; the venv is a real ``python -m venv``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import run
from support.cbuild import LDVERSION, LIBDIR, LINUX_TAG, check_doc, cli, make_wheel, module

EXT_NAME = "probe/_m.so"


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("mods")
    return {
        "clean": module(d / "clean", "_m"),
        "linked": module(d / "linked", "_m", extra=[f"-L{LIBDIR}", f"-lpython{LDVERSION}", "-Wl,--no-as-needed"]),
    }


def _wheel(d: Path, name: str, so: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return make_wheel(d / f"{name}-1.0-{LINUX_TAG}.whl", {EXT_NAME: so.read_bytes()}, LINUX_TAG, dist=f"{name}-1.0")


def test_directory_holding_a_violating_wheel_fails(modules: dict, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    bad = _wheel(dist, "bad", modules["linked"])
    good = _wheel(dist, "good", modules["clean"])
    proc = cli("check", dist)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"{bad}: {EXT_NAME}: violation: needs libpython{LDVERSION}.so.1.0 (DT_NEEDED); fix: do not link" \
        in "\n".join(lines)
    assert f"checked 1 ELF file in {bad}: 1 violates the no-libpython rule" in lines
    assert f"checked 1 ELF file in {good}: none needs libpython" in lines
    doc = check_doc(dist)
    assert [(t["path"], t["kind"], t["ok"]) for t in doc["targets"]] == [
        (str(bad), "wheel", False), (str(good), "wheel", True)]
    # Control: the same directory without the bad wheel passes, and still shows what it checked.
    bad.unlink()
    proc = cli("check", dist)
    assert proc.returncode == 0 and proc.stdout.splitlines() == [f"checked 1 ELF file in {good}: none needs libpython"]


def test_nothing_checked_is_said(modules: dict, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README").write_text("no ELF here\n")
    proc = cli("check", empty)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [f"nothing to check in {empty}: no ELF file and no wheel in it"]
    # A wheel without ELF files is a target in which nothing was checked: one line says so.
    pure = make_wheel(tmp_path / f"pure-1.0-{LINUX_TAG}.whl", {"pure/__init__.py": b""}, LINUX_TAG, dist="pure-1.0")
    proc = cli("check", pure)
    assert proc.stdout.splitlines() == [f"checked 0 ELF files in {pure}: nothing checked (no ELF file in it)"]
    # Control: a directory with one module is checked as a tree.
    (empty / "_m.so").write_bytes(modules["clean"].read_bytes())
    assert cli("check", empty).stdout.splitlines() == [f"checked 1 ELF file in {empty}: none needs libpython"]


def test_tree_walk_skips_virtual_environments(modules: dict, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "pkg").mkdir(parents=True)
    (proj / "pkg" / "_m.so").write_bytes(modules["clean"].read_bytes())
    venv = proj / ".venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    proc = cli("check", proj)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines() == [
        f"{venv}: skipped: a virtual environment (it holds pyvenv.cfg); name it to check it",
        f"checked 1 ELF file in {proj}: none needs libpython",
    ]
    assert check_doc(proj)["skipped"] == [str(venv)]
    # Control: the venv's interpreter (pyenv, --enable-shared) is what the walk used to flag.
    inside = cli("check", venv)
    assert inside.returncode == 1 and "executable-needs-libpython" not in inside.stdout
    assert "is a program that embeds Python through libpython" in inside.stdout, inside.stdout
