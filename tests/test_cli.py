"""`nolibpython check`: real wheels from PyPI, real interpreters, real trees; exit codes,
human lines and the JSON document (validated against docs/check-json-schema.json)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest
from support import REPO, corpus_wheel, download_wheel, readelf_dynamic, require, run
from support.cbuild import module as build_module

SCHEMA = json.loads((REPO / "docs" / "check-json-schema.json").read_text())
#: A pyenv interpreter executable: --enable-shared, so it links libpython3.11.so.1.0.
PYENV_EXE = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def cli(*args: object) -> "subprocess.CompletedProcess[str]":
    return run([sys.executable, "-m", "setuptools_nolibpython", *map(str, args)])


def check_json(*args: object, status: int) -> Dict[str, Any]:
    proc = cli("check", "--json", *args)
    assert proc.returncode == status, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["exit_status"] == status
    return doc


def files_of(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {f["path"]: f for t in doc["targets"] for f in t["files"]}


def elf_count(wheel: Path) -> int:
    """Independent count: members whose first bytes are the ELF magic."""
    with zipfile.ZipFile(wheel) as zf:
        return sum(1 for i in zf.infolist() if not i.is_dir() and zf.open(i).read(4) == b"\x7fELF")


@pytest.fixture(scope="module")
def pyenv_exe() -> Path:
    require(PYENV_EXE.is_file(), f"{PYENV_EXE} (a pyenv --enable-shared interpreter) is needed")
    assert "libpython" in run(["readelf", "-dW", PYENV_EXE], check=True).stdout  # control
    return PYENV_EXE


# ---------------------------------------------------------------- real wheels: no false positives
@pytest.mark.parametrize("project", ["numpy", "scipy", "lxml", "pillow"])
def test_real_wheel_checks_clean(project: str) -> None:
    wheel = download_wheel(project)
    doc = check_json(wheel, status=0)
    expected = elf_count(wheel)
    assert expected > 0
    assert doc["totals"] == {"files": expected, "clean": expected, "violation": 0, "allowed": 0, "unreadable": 0}
    (target,) = doc["targets"]
    assert target["kind"] == "wheel" and target["errors"] == []
    # Notes only (scipy's RPATHs name the manylinux image's /opt/_internal paths): nothing fails.
    assert all(f["needed"] is not None and all(p["severity"] == "note" for p in f["problems"])
               for f in target["files"])
    human = cli("check", wheel)
    assert human.returncode == 0
    lines = [ln for ln in human.stdout.strip().splitlines() if ": note: " not in ln]
    assert lines == [f"checked {expected} ELF files in {wheel}: none needs libpython"]


def test_torch_wheel_checks_clean() -> None:
    wheel = corpus_wheel("torch")  # a failure under CI=true where pip's find-links should hold it
    doc = check_json(wheel, status=0)
    assert doc["totals"]["files"] == doc["totals"]["clean"] == elf_count(wheel) > 100


# ---------------------------------------------------------------- violations and allow
def test_elf_file_violation_human_and_json(pyenv_exe: Path) -> None:
    proc = cli("check", pyenv_exe)
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, lines  # one line for the file, one summary
    assert lines[0].startswith(f"{pyenv_exe}: violation: ")
    # The interpreter is a program that embeds Python (issue 11): its own verdict, never "repair".
    assert "is a program that embeds Python through libpython3.11.so.1.0" in lines[0] and "; fix: " in lines[0]
    assert "link libpython statically" in lines[0] and "nolibpython repair" not in lines[0]
    assert lines[1] == f"checked 1 ELF file in {pyenv_exe}: 1 program embeds Python through libpython"
    doc = check_json(pyenv_exe, status=1)
    (f,) = files_of(doc).values()
    assert f["verdict"] == "violation" and "libpython3.11.so.1.0" in f["needed"]
    codes = {p["code"]: p for p in f["problems"]}
    assert codes["executable-needs-libpython"]["severity"] == "error"
    assert codes["executable-needs-libpython"]["detail"] == "libpython3.11.so.1.0"
    assert "python-rpath" not in codes  # the program keeps the RUNPATH that finds its libpython
    assert doc["targets"][0]["kind"] == "elf"


def test_allow_glob_reports_allowed(pyenv_exe: Path) -> None:
    proc = cli("check", "--allow", "**/bin/python3*", pyenv_exe)
    assert proc.returncode == 0, proc.stdout
    assert "allowed: is a program that embeds Python through libpython3.11.so.1.0" in proc.stdout
    assert "(1 allowed to link libpython)" in proc.stdout
    doc = check_json("--allow", "nomatch*", "--allow", "**/bin/python3*", pyenv_exe, status=0)
    (f,) = files_of(doc).values()
    assert f["verdict"] == "allowed" and f["allowed"] is True
    assert doc["totals"]["allowed"] == 1


def test_allow_is_repeatable(pyenv_exe: Path, tmp_path: Path) -> None:
    """Two files that embed Python, each matched by its own --allow: both globs count."""
    for rel in ("bin/one", "libexec/two"):
        (tmp_path / rel).parent.mkdir(parents=True)
        shutil.copy(pyenv_exe, tmp_path / rel)
    both = check_json("--allow", "bin/*", "--allow", "libexec/*", tmp_path, status=0)
    assert {p: f["verdict"] for p, f in files_of(both).items()} == {"bin/one": "allowed", "libexec/two": "allowed"}
    # control: either glob alone leaves the other file a violation
    for glob, other in (("bin/*", "libexec/two"), ("libexec/*", "bin/one")):
        one = check_json("--allow", glob, tmp_path, status=1)
        assert files_of(one)[other]["verdict"] == "violation"


def test_directory_tree(pyenv_exe: Path, tmp_path: Path) -> None:
    """ELF files are found by magic, not name; only the bad one is a violation."""
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib").mkdir()
    shutil.copy(pyenv_exe, tree / "bin" / "tool")  # ELF without .so in its name
    with zipfile.ZipFile(download_wheel("lxml")) as zf:
        (tree / "lib" / "sax.so").write_bytes(zf.read("lxml/sax.cpython-311-x86_64-linux-gnu.so"))
    (tree / "lib" / "fake.so").write_text("not an ELF file\n")
    (tree / "README").write_text("hello\n")
    doc = check_json(tree, status=1)
    files = files_of(doc)
    assert sorted(files) == ["bin/tool", "lib/sax.so"]
    assert files["bin/tool"]["verdict"] == "violation" and files["lib/sax.so"]["verdict"] == "clean"
    human = cli("check", tree).stdout.splitlines()
    assert human[0].startswith(f"{tree}: bin/tool: violation: ") and len(human) == 2
    clean = check_json("--allow", "bin/*", tree, status=0)
    assert clean["totals"]["allowed"] == 1


def test_unreadable_elf_and_wheel(tmp_path: Path) -> None:
    """Bad input: exit 1, a one-line reason naming the file, no traceback."""
    with zipfile.ZipFile(download_wheel("lxml")) as zf:
        data = zf.read("lxml/sax.cpython-311-x86_64-linux-gnu.so")
    trunc = tmp_path / "trunc.so"
    trunc.write_bytes(data[:300])
    notzip = tmp_path / "broken-1.0-py3-none-any.whl"
    notzip.write_bytes(b"PK\x03\x04 this is not a zip file")
    proc = cli("check", trunc, notzip)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    assert any(ln.startswith(f"{trunc}: unreadable: cannot be read as ELF") for ln in proc.stdout.splitlines())
    assert f"{notzip}: error: not a readable wheel (zip)" in proc.stdout
    doc = check_json(trunc, notzip, status=1)
    assert files_of(doc)[str(trunc)]["verdict"] == "unreadable"
    assert files_of(doc)[str(trunc)]["needed"] is None
    assert doc["targets"][1]["errors"] and doc["targets"][1]["ok"] is False


def test_usage_errors_exit_2(tmp_path: Path, pyenv_exe: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("plain text\n")
    cases: List[List[object]] = [
        ["check", text],
        ["check", tmp_path / "missing"],
        ["check", pyenv_exe, text],  # one bad path: nothing is checked
        ["check"],
        ["check", "--check-symbols", "maybe", pyenv_exe],
        ["frobnicate"],
        [],
    ]
    for argv in cases:
        proc = cli(*argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert proc.stdout == "" and "Traceback" not in proc.stderr, argv
    one = cli("check", pyenv_exe, text)
    assert one.stderr.strip().splitlines() == [
        f"nolibpython: error: {text}: not a wheel (.whl), a directory or an ELF file; nothing to check"
    ]


def test_check_symbols_option_reaches_the_symbol_check(tmp_path: Path) -> None:
    """A real .so with an undefined symbol (gcc allows that in shared objects): error
    fails, warn reports and passes, off does not look."""
    src = tmp_path / "undef.c"
    src.write_text("extern int nolibpython_not_defined_anywhere(void);\n"
                   "int probe(void) { return nolibpython_not_defined_anywhere(); }\n")
    so = tmp_path / "undef.so"
    run(["gcc", "-shared", "-fPIC", src, "-o", so], check=True)
    results = {}
    for level in ("error", "warn", "off"):
        doc = check_json("--check-symbols", level, "--python", sys.executable, so, status=0 if level != "error" else 1)
        (f,) = files_of(doc).values()
        results[level] = [(p["code"], p["severity"], p["detail"]) for p in f["problems"]]
    sym = "nolibpython_not_defined_anywhere"
    assert results == {
        "error": [("unresolved-symbol", "error", sym)],
        "warn": [("unresolved-symbol", "warning", sym)],
        "off": [],
    }


def test_schema_rejects_wrong_documents(pyenv_exe: Path) -> None:
    """Control: the schema is strict enough to catch a wrong verdict or a missing field."""
    doc = check_json(pyenv_exe, status=1)
    bad_verdict = copy.deepcopy(doc)
    bad_verdict["targets"][0]["files"][0]["verdict"] = "fine"
    missing = copy.deepcopy(doc)
    del missing["targets"][0]["files"][0]["problems"][0]["fix"]
    for wrong in (bad_verdict, missing):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, SCHEMA)


def test_entry_points_and_lean_imports(pyenv_exe: Path) -> None:
    """Both spellings run; a check never imports setuptools (start-up time)."""
    from setuptools_nolibpython import cli as cli_module
    from setuptools_nolibpython import config

    assert cli_module.CHECK_SYMBOLS == config.CHECK_SYMBOLS  # spelled out in cli to keep tomllib out
    script = Path(sys.executable).parent / "nolibpython"
    assert run([script, "check", pyenv_exe]).returncode == 1
    assert cli("--version").stdout.startswith("nolibpython ")
    probe = (
        "import sys, contextlib, io\n"
        "import setuptools_nolibpython.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = c.main(['check', '--json', sys.argv[1]])\n"
        "{extra}"
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('setuptools', 'distutils')))\n"
    )
    lean = run([sys.executable, "-c", probe.format(extra=""), download_wheel("lxml")], check=True)
    assert lean.stdout.strip() == "0 []", lean.stdout
    # Control: the probe does see setuptools when the plugin's glue is imported.
    heavy = run([sys.executable, "-c", probe.format(extra="import setuptools_nolibpython.commands\n"),
                 download_wheel("lxml")], check=True)
    assert "'setuptools'" in heavy.stdout, heavy.stdout


def test_no_rpath_silences_the_python_lib_dir_warning(tmp_path: Path) -> None:
    """A module with an RPATH to the interpreter's lib dir (what pyenv's LDSHARED gives every
    extension): check warns about that entry, and ``--no-rpath`` silences that warning only."""
    libdir = sysconfig.get_config_var("LIBDIR")
    so = build_module(tmp_path, "_rp", extra=[f"-Wl,-rpath,{libdir}"])
    assert libdir in readelf_dynamic(so)["RUNPATH"] + readelf_dynamic(so)["RPATH"]  # the file is what it claims

    def problems(*args: object) -> List[Any]:
        (f,) = files_of(check_json(*args, so, status=0)).values()
        return [(p["code"], p["severity"], p["detail"]) for p in f["problems"]]

    assert problems() == [("python-rpath", "warning", libdir)]  # negative control: the warning is there
    assert problems("--no-rpath") == []
    plain = cli("check", so)
    assert plain.returncode == 0 and libdir in plain.stdout and "Python installation's lib dir" in plain.stdout
    quiet = cli("check", "--no-rpath", so)
    assert quiet.returncode == 0 and "lib dir" not in quiet.stdout, quiet.stdout
