"""One definition of a program, decided by the ELF layer and used everywhere.

A PIE built with ``-Wl,-soname`` has a DT_SONAME, yet the linker marks it DF_1_PIE and
it is still a program: one that embeds Python through libpython keeps that link in
check (its own verdict and fix), in repair (left as it is, still runs) and in the
symbol check (no interpreter around it). The same source built as a shared library with
the same SONAME is a library, and repair does remove its libpython (negative control).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from support import run
from support.cbuild import INCLUDE, LDVERSION, LIBDIR, LINUX_TAG, check_doc, cli, gcc, make_wheel, problems_of

from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.sources import FileSource

EMBED_C = """
#include <Python.h>
int main(void) {
    Py_Initialize();
    PyRun_SimpleString("print('embedded', 6 * 7)");
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
"""
SONAME = f"libpython{LDVERSION}.so.1.0"
LINK = [f"-L{LIBDIR}", f"-lpython{LDVERSION}", f"-Wl,-rpath,{LIBDIR}"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("pie")
    (d / "embed.c").write_text(EMBED_C)
    pie = d / "embed"
    gcc(["-fPIE", "-pie", f"-I{INCLUDE}", "-Wl,-soname,libembed.so", d / "embed.c", *LINK, "-o", pie])
    lib = d / "libembed.so"
    gcc(["-shared", "-fPIC", f"-I{INCLUDE}", "-Wl,-soname,libembed.so", d / "embed.c", *LINK, "-o", lib])
    dyn = run(["readelf", "-dW", pie], check=True).stdout
    assert "(SONAME)" in dyn and "PIE" in dyn and SONAME in dyn, dyn  # the reproducer is what it claims
    assert run([pie], check=True).stdout.strip() == "embedded 42"
    members = {"app/bin/embed": pie.read_bytes(), "app/lib/libembed.so": lib.read_bytes()}
    wheel = make_wheel(d / f"app-1.0-{LINUX_TAG}.whl", members, LINUX_TAG, modes={"app/bin/embed": 0o755},
                       dist="app-1.0")
    return {"pie": pie, "lib": lib, "wheel": wheel}


def test_elf_layer_calls_a_pie_with_a_soname_a_program(built: dict) -> None:
    with FileSource(str(built["pie"])) as src:
        pie = read_elf(src)
    with FileSource(str(built["lib"])) as src:
        lib = read_elf(src)
    assert pie.soname == lib.soname == "libembed.so"
    assert pie.is_executable and not lib.is_executable


def test_check_gives_the_program_its_own_verdict(built: dict) -> None:
    doc = check_doc(built["wheel"])
    probs = problems_of(doc)
    assert [p["code"] for p in probs["app/bin/embed"]] == ["executable-needs-libpython"]
    assert [p["code"] for p in probs["app/lib/libembed.so"] if p["severity"] == "error"] == ["needs-libpython"]
    files = {f["path"]: f for f in doc["targets"][0]["files"]}
    assert files["app/bin/embed"]["is_program"] is True and files["app/lib/libembed.so"]["is_program"] is False
    # The symbol check judged the program in its own closure (no interpreter around it): its
    # Py* symbols come from libpython through DT_NEEDED, so none is reported unresolved.
    assert not [p for p in probs["app/bin/embed"] if p["code"] == "unresolved-symbol"]


def test_repair_leaves_the_program_and_fixes_the_library(built: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = cli("repair", "-w", out, built["wheel"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "app/bin/embed: left as it is: a program" in proc.stdout
    assert f"app/lib/libembed.so: removed DT_NEEDED {SONAME}" in proc.stdout  # control: the library is repaired
    with zipfile.ZipFile(out / built["wheel"].name) as zf:
        data = zf.read("app/bin/embed")
    assert data == built["pie"].read_bytes()
    ran = tmp_path / "embed"
    ran.write_bytes(data)
    ran.chmod(0o755)
    assert run([ran], check=True).stdout.strip() == "embedded 42"
