"""`nolibpython check --env` and `repair --env`: the seeds' failure where it lands, in an
installed environment.

A "Fedora-style" wheel (modules linked against pyenv 3.11's shared libpython, built
without the plugin) is pip-installed into a venv of Debian's static /usr/bin/python3.11,
beside a clean package built with the plugin (the control). Judges independent of the
tool: the import with every libpython hidden (tests/support/without_libpython.sh),
readelf, pip (uninstall), and RECORD hashes recomputed here with hashlib.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Dict, List, Tuple

import jsonschema
import pytest
from support import (
    DEBIAN_PYTHON,
    MODULE_C,
    REPO,
    WITHOUT_LIBPYTHON,
    built_wheel,
    make_project,
    pip_wheel,
    readelf_dynamic,
    require,
    run,
)

from setuptools_nolibpython.envrepair import JOURNAL, TEMP_PREFIX

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
SCHEMA = json.loads((REPO / "docs" / "check-json-schema.json").read_text())
LIBDIR = str(sysconfig.get_config_var("LIBDIR"))
LDVERSION = str(sysconfig.get_config_var("LDVERSION"))
LIBPYTHON = f"libpython{LDVERSION}.so.1.0"
SITE = Path("lib") / "python3.11" / "site-packages"
#: Three modules carry this much data, so that a repair spends its time writing (SIGKILL test).
PAD = 4 * 1024 * 1024
FEDORA_MODULES = ("_core", "_big1", "_big2", "_big3")
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}

PROGRAM_C = """
#include <Python.h>
int main(void) {
    Py_Initialize();
    PyRun_SimpleString("print('embedded', 6 * 7)");
    return Py_FinalizeEx() < 0;
}
"""


def cli(*args: object) -> "subprocess.CompletedProcess[str]":
    return run([*CLI, *map(str, args)])


def lines(text: str) -> List[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def require_hiding() -> None:
    require(os.geteuid() == 0 and shutil.which("unshare"), "hiding libpython needs root and unshare",
            apt=["util-linux"])


def import_hidden(python: Path, module: str) -> "subprocess.CompletedProcess[str]":
    """Import ``module`` in ``python`` with every libpython*.so hidden (nothing written: -B)."""
    return run([WITHOUT_LIBPYTHON, python, "-B", "-c", f"import {module} as m; print(m.answer())"])


def snapshot(root: Path) -> Dict[str, Tuple[object, ...]]:
    """Every path under ``root``: content hash, mode, mtime and inode (a rename shows);
    directories with their mtime (a temporary file or journal made and removed shows)."""
    out: Dict[str, Tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = (sha256(p), st.st_mode, st.st_mtime_ns, st.st_ino)
        else:
            out[rel] = ("dir", st.st_mode, st.st_mtime_ns)  # a file made and removed again shows
    return out


def record_mismatches(site: Path) -> List[str]:
    """Every RECORD row of every distribution that its file does not match (computed here)."""
    bad: List[str] = []
    for record in sorted(site.glob("*.dist-info/RECORD")):
        for row in csv.reader(io.StringIO(record.read_text(encoding="utf-8"), newline="")):
            if not row or not row[1]:
                continue
            path = Path(os.path.normpath(site / row[0]))
            if not path.is_file():
                bad.append(f"{row[0]}: missing")
                continue
            data = path.read_bytes()
            algo, _, want = row[1].partition("=")
            got = base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b"=").decode()
            if got != want or row[2] != str(len(data)):
                bad.append(f"{row[0]}: {got},{len(data)} != {want},{row[2]}")
    return bad


def record_files(site: Path, dist_prefix: str) -> List[Path]:
    (record,) = site.glob(f"{dist_prefix}-*.dist-info/RECORD")
    rows = csv.reader(io.StringIO(record.read_text(encoding="utf-8"), newline=""))
    return [Path(os.path.normpath(site / r[0])) for r in rows if r]


def make_env(dest: Path, wheels: List[Path], system_site: bool = False) -> Path:
    """A venv of Debian's static python3.11 with ``wheels`` pip-installed (pip runs from the
    test's venv through --python: the venv needs no pip of its own)."""
    run([DEBIAN_PYTHON, "-m", "venv", "--without-pip", *(["--system-site-packages"] if system_site else []),
         dest], check=True)
    python = dest / "bin" / "python"
    if wheels:
        run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--no-deps",
             *wheels], env=PIP_ENV, check=True)
    return python


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    require(DEBIAN_PYTHON.is_file(), f"{DEBIAN_PYTHON} (Debian's static 3.11) is needed",
            apt=["python3.11", "python3.11-venv"])
    require(shutil.which("gcc"), "gcc is needed to build the modules", apt=["gcc"])
    work = tmp_path_factory.mktemp("installed")
    out: Dict[str, Path] = {}
    # Fedora-style: libpython linked on purpose, plugin off; pyenv's LDSHARED adds its RUNPATH.
    fedora = make_project(work / "fedora", name="fedora_style", enable=False, modules=FEDORA_MODULES,
                          ext_kwargs="libraries=['python' + LDVERSION], library_dirs=[LIBDIR]")
    for n, mod in enumerate(FEDORA_MODULES[1:], 1):
        with open(fedora / "fedora_style" / f"{mod}.c", "a") as f:
            f.write(f"\nconst char nolibpython_pad{n}[{PAD}] = {{{n}}};\n")
    clean = make_project(work / "clean", name="clean_pkg", enable=True)
    # Clean too, but it calls a private symbol that pyenv's 3.11.7 exports and Debian's 3.11.2 does not.
    private = make_project(work / "private", name="private_pkg", enable=True, table_extra='check-symbols = "off"\n')
    (private / "private_pkg" / "_ext.c").write_text(MODULE_C % {
        "name": "_ext", "decl": "PyAPI_FUNC(int) _PyModule_Add(PyObject *, const char *, PyObject *);",
        "value": '_PyModule_Add(PyModule_New("x"), "v", PyLong_FromLong(42)) == 0 ? 42 : -1'})
    for name, project in (("fedora", fedora), ("clean", clean), ("private", private)):
        proc = pip_wheel(project, work / f"dist-{name}", work, isolation=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        out[name] = built_wheel(work / f"dist-{name}")
    # The builds are what the story says: the Fedora-style module links libpython, the clean one does not.
    tree = work / "unpacked"
    run([sys.executable, "-m", "wheel", "unpack", "-d", tree, out["fedora"]], check=True)
    run([sys.executable, "-m", "wheel", "unpack", "-d", tree, out["clean"]], check=True)
    (fed_so,) = tree.glob("fedora_style-1.0/fedora_style/_core.*.so")
    assert LIBPYTHON in readelf_dynamic(fed_so)["NEEDED"]
    (clean_so,) = tree.glob("clean_pkg-1.0/clean_pkg/_ext.*.so")
    dyn = readelf_dynamic(clean_so)
    assert not any("libpython" in n for n in dyn["NEEDED"]) and not dyn["RUNPATH"] and not dyn["RPATH"], dyn
    # A console script that is an ELF program embedding Python through libpython.
    root = work / "embedder" / "embedder-1.0"
    (root / "embedder").mkdir(parents=True)
    (root / "embedder" / "__init__.py").write_text("")
    (root / "embedder-1.0.dist-info").mkdir()
    (root / "embedder-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: embedder\nVersion: 1.0\n")
    (root / "embedder-1.0.dist-info" / "WHEEL").write_text(
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n")
    scripts = root / "embedder-1.0.data" / "scripts"
    scripts.mkdir(parents=True)
    (work / "prog.c").write_text(PROGRAM_C)
    run(["gcc", f"-I{sysconfig.get_paths()['include']}", work / "prog.c", f"-L{LIBDIR}", f"-lpython{LDVERSION}",
         f"-Wl,-rpath,{LIBDIR}", "-o", scripts / "embedder-run"], check=True)
    (work / "dist-embedder").mkdir()
    run([sys.executable, "-m", "wheel", "pack", "-d", work / "dist-embedder", root], check=True)
    out["embedder"] = built_wheel(work / "dist-embedder")
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, wheels: Dict[str, Path]) -> Path:
    """The venv with the Fedora-style and the clean package installed; tests work on copies."""
    dest = tmp_path_factory.mktemp("template") / "venv"
    make_env(dest, [wheels["fedora"], wheels["clean"]])
    return dest


@pytest.fixture
def venv(tmp_path: Path, template: Path) -> Path:
    dest = tmp_path / "venv"
    shutil.copytree(template, dest, symlinks=True)
    return dest


def fedora_files(venv: Path) -> List[Path]:
    return sorted((venv / SITE / "fedora_style").glob("*.so"))


def test_the_fedora_style_wheel_breaks_and_check_env_names_it(venv: Path) -> None:
    require_hiding()
    python = venv / "bin" / "python"
    broken = import_hidden(python, "fedora_style._core")
    assert broken.returncode != 0 and f"{LIBPYTHON}: cannot open shared object file" in broken.stderr, broken.stderr
    control = import_hidden(python, "clean_pkg._ext")
    assert control.returncode == 0 and control.stdout.strip() == "42", control.stderr

    proc = cli("check", "--env", python)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    core = fedora_files(venv)[-1]
    assert core.name.startswith("_core.")
    assert f"fedora_style 1.0: {core}: violation: needs {LIBPYTHON} (DT_NEEDED); fix: run 'nolibpython repair " \
           f"--env {python} fedora_style'" in proc.stdout, proc.stdout
    assert any(ln.startswith("checked 4 ELF files in fedora_style 1.0 ") and ln.endswith("4 violate the no-libpython "
               "rule") for ln in lines(proc.stdout)), proc.stdout
    assert any(ln.startswith("checked 1 ELF file in clean_pkg 1.0 ") and ln.endswith("none needs libpython")
               for ln in lines(proc.stdout)), proc.stdout

    doc = json.loads(cli("check", "--json", "--env", python).stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["exit_status"] == 1 and doc["targets"][0]["kind"] == "environment"
    assert doc["targets"][0]["site_dirs"] == [str(venv / SITE)]
    verdicts = {f["path"]: (f["distribution"]["name"], f["verdict"]) for f in doc["targets"][0]["files"]}
    expected = {str(p): ("fedora_style", "violation") for p in fedora_files(venv)}
    expected.update({str(p): ("clean_pkg", "clean") for p in (venv / SITE / "clean_pkg").glob("*.so")})
    assert verdicts == expected


def test_repair_env_makes_the_import_work_and_keeps_every_record_true(venv: Path) -> None:
    require_hiding()
    python = venv / "bin" / "python"
    site = venv / SITE
    clean_before = {p: snapshot(p) for p in [site / "clean_pkg", *site.glob("clean_pkg-*.dist-info")]}
    assert record_mismatches(site) == []

    proc = cli("repair", "--env", python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for so in fedora_files(venv):
        assert f"fedora_style 1.0: {so}: removed DT_NEEDED {LIBPYTHON}" in proc.stdout, proc.stdout
        dyn = readelf_dynamic(so)
        assert not any("libpython" in n for n in dyn["NEEDED"]) and LIBDIR not in dyn["RUNPATH"], dyn
    for mod in FEDORA_MODULES:
        imp = import_hidden(python, f"fedora_style.{mod}")
        assert imp.returncode == 0 and imp.stdout.strip() == "42", imp.stderr
    assert record_mismatches(site) == []
    assert {p: snapshot(p) for p in clean_before} == clean_before  # byte for byte, not even renamed
    after = cli("check", "--env", python)
    assert after.returncode == 0, after.stdout

    # A second run writes nothing at all.
    before = snapshot(venv)
    again = cli("repair", "--env", python)
    assert again.returncode == 0 and "fedora_style 1.0: nothing to repair" in again.stdout, again.stdout
    assert snapshot(venv) == before

    # pip uninstall removes every file, by the RECORD the repair rewrote.
    listed = record_files(site, "fedora_style")
    gone = run([sys.executable, "-m", "pip", "--python", python, "uninstall", "-y", "fedora_style"], env=PIP_ENV)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert [p for p in listed if p.exists()] == []
    assert not (site / "fedora_style").exists() and not list(site.glob("fedora_style-*"))
    assert {p: snapshot(p) for p in clean_before} == clean_before


def test_repair_env_names_distributions(venv: Path) -> None:
    python = venv / "bin" / "python"
    before = snapshot(venv)
    proc = cli("repair", "--env", python, "clean-pkg")  # PEP 503: clean-pkg names clean_pkg
    assert proc.returncode == 0 and "clean_pkg 1.0: nothing to repair" in proc.stdout, proc.stdout + proc.stderr
    assert snapshot(venv) == before  # fedora_style was not named: untouched
    unknown = cli("repair", "--env", python, "no-such-dist")
    assert unknown.returncode == 2 and lines(unknown.stderr) == [
        f"nolibpython: error: no distribution named no-such-dist in the environment of {python} ({venv / SITE})"
    ], unknown.stderr
    assert snapshot(venv) == before
    # Control: naming it repairs it.
    named = cli("repair", "--env", python, "FEDORA.style")
    assert named.returncode == 0 and "fedora_style 1.0: repaired 4 file(s)" in named.stdout, named.stdout
    assert snapshot(venv) != before


def test_dry_run_writes_nothing(venv: Path) -> None:
    python = venv / "bin" / "python"
    before = snapshot(venv)
    proc = cli("repair", "--env", python, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    core = fedora_files(venv)[-1]
    assert f"fedora_style 1.0: {core}: would remove DT_NEEDED {LIBPYTHON}" in proc.stdout, proc.stdout
    assert "fedora_style 1.0: would repair 4 file(s) and update RECORD; nothing written (--dry-run)" in proc.stdout
    assert snapshot(venv) == before
    # Control: the same run without --dry-run changes exactly the Fedora-style files and RECORD.
    assert cli("repair", "--env", python).returncode == 0
    now = snapshot(venv)
    changed = sorted(k for k in before if before[k] != now.get(k))
    rel = str(SITE)
    assert changed == sorted([f"{rel}/fedora_style-1.0.dist-info/RECORD", f"{rel}/fedora_style-1.0.dist-info",
                              f"{rel}/fedora_style"] + [str(p.relative_to(venv)) for p in fedora_files(venv)]), changed


def test_a_hand_edited_file_is_refused(venv: Path) -> None:
    python = venv / "bin" / "python"
    core = fedora_files(venv)[-1]
    with open(core, "ab") as f:
        f.write(b"edited by hand")
    before = snapshot(venv)
    proc = cli("repair", "--env", python)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines(proc.stderr) == [
        f"fedora_style 1.0: {core}: refused: it does not match its RECORD hash ({core.stat().st_size} bytes, "
        f"RECORD says {core.stat().st_size - 14}): it was changed after it was installed; nothing of "
        "fedora_style 1.0 was written. Reinstall it, or pass --force to repair the file as it is and record its "
        "new hash"
    ], proc.stderr
    assert snapshot(venv) == before  # the other three files of the distribution were not touched either
    # Control: --force repairs it, and RECORD then tells the truth about the edited file too.
    forced = cli("repair", "--env", python, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert record_mismatches(venv / SITE) == []
    assert LIBPYTHON not in readelf_dynamic(core)["NEEDED"]


def test_an_environment_that_is_not_writable_is_refused(venv: Path) -> None:
    require(os.geteuid() == 0 and shutil.which("unshare"), "a read-only bind mount needs root and unshare",
            apt=["util-linux"])
    python = venv / "bin" / "python"
    site = venv / SITE
    before = snapshot(venv)

    def read_only(*args: object) -> "subprocess.CompletedProcess[str]":
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        return run(["unshare", "-m", "sh", "-c", script, "sh", site, *CLI, *map(str, args)])

    proc = read_only("repair", "--env", python)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(lines(proc.stderr)) == 1 and "is not writable here" in proc.stderr and str(site) in proc.stderr, \
        proc.stderr
    assert snapshot(venv) == before
    # Control: the plan itself is fine (a dry run succeeds there), and a writable copy is repaired.
    dry = read_only("repair", "--env", python, "--dry-run")
    assert dry.returncode == 0 and "would repair 4 file(s)" in dry.stdout, dry.stdout + dry.stderr
    assert cli("repair", "--env", python).returncode == 0


def test_a_program_that_links_libpython_is_left_alone(tmp_path: Path, wheels: Dict[str, Path]) -> None:
    venv = tmp_path / "venv"
    python = make_env(venv, [wheels["embedder"], wheels["fedora"]])
    prog = venv / "bin" / "embedder-run"
    assert LIBPYTHON in readelf_dynamic(prog)["NEEDED"]
    home = {"PYTHONHOME": sys.base_prefix}
    assert run([prog], env=home).stdout.strip() == "embedded 42"
    before = sha256(prog)

    check = cli("check", "--env", python)
    assert check.returncode == 1
    assert f"embedder 1.0: {prog}: violation: is a program that embeds Python through {LIBPYTHON}" in check.stdout

    proc = cli("repair", "--env", python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"embedder 1.0: {prog}: left as it is: a program that embeds Python through libpython, not an " \
           "extension module; removing the entry would make it fail at start-up" in proc.stdout, proc.stdout
    assert sha256(prog) == before and LIBPYTHON in readelf_dynamic(prog)["NEEDED"]
    assert run([prog], env=home).stdout.strip() == "embedded 42"
    # Control: the same run did repair the module beside it.
    assert "fedora_style 1.0: repaired 4 file(s)" in proc.stdout
    assert record_mismatches(venv / SITE) == []


def test_files_no_record_lists_are_reported_and_left(venv: Path) -> None:
    python = venv / "bin" / "python"
    stray = venv / SITE / "stray.cpython-311-x86_64-linux-gnu.so"
    shutil.copy2(fedora_files(venv)[-1], stray)  # put there by hand: no RECORD lists it
    check = cli("check", "--env", python)
    assert check.returncode == 1
    assert f"no RECORD: {stray}: violation: needs {LIBPYTHON} (DT_NEEDED); fix: no installed distribution's " \
           "RECORD lists this file" in check.stdout, check.stdout
    assert "checked 1 ELF file in files no RECORD lists" in check.stdout
    doc = json.loads(cli("check", "--json", "--env", python).stdout)
    jsonschema.validate(doc, SCHEMA)
    (entry,) = [f for f in doc["targets"][0]["files"] if f["path"] == str(stray)]
    assert entry["distribution"] is None and entry["verdict"] == "violation"

    before = sha256(stray)
    proc = cli("repair", "--env", python)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines(proc.stderr) == [
        f"{stray}: not repaired: it links libpython, but no installed distribution's RECORD lists it, so its hash "
        "can be neither verified nor kept true; reinstall the package it belongs to from a wheel built without "
        "libpython"
    ], proc.stderr
    assert sha256(stray) == before
    assert "fedora_style 1.0: repaired 4 file(s)" in proc.stdout  # control: the rest was repaired


def test_each_file_is_judged_against_python_itself(tmp_path: Path, wheels: Dict[str, Path]) -> None:
    """The symbol check resolves against PYTHON (Debian's 3.11.2), not the interpreter that
    runs nolibpython (pyenv's 3.11.7): a private symbol only the latter exports is caught."""
    venv = tmp_path / "venv"
    python = make_env(venv, [wheels["private"]])
    (so,) = (venv / SITE / "private_pkg").glob("*.so")
    imp = run([python, "-B", "-c", "import private_pkg._ext"])
    assert imp.returncode != 0 and "undefined symbol: _PyModule_Add" in imp.stderr, imp.stderr
    proc = cli("check", "--env", python)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"private_pkg 1.0: {so}: violation: undefined symbol _PyModule_Add" in proc.stdout, proc.stdout
    assert "this interpreter (3.11.2, " in proc.stdout, proc.stdout
    # Control: the same installed file checked against the running interpreter (3.11.7) passes.
    assert sys.version_info[:3] != (3, 11, 2)
    mine = cli("check", so)
    assert mine.returncode == 0, mine.stdout + mine.stderr


def test_a_venv_with_system_site_packages_includes_them(tmp_path: Path) -> None:
    require(DEBIAN_PYTHON.is_file(), f"{DEBIAN_PYTHON} is needed", apt=["python3.11", "python3.11-venv"])
    system = Path("/usr/lib/python3/dist-packages")
    theirs = sorted(str(p) for p in system.rglob("*.so") if p.is_file() and not p.is_symlink()
                    and p.read_bytes()[:4] == b"\x7fELF")
    require(theirs, f"{system} holds no extension module on this machine")

    def files(system_site: bool) -> Tuple[List[str], List[str]]:
        python = make_env(tmp_path / f"venv-{system_site}", [], system_site=system_site)
        doc = json.loads(cli("check", "--json", "--check-symbols", "off", "--env", python).stdout)
        jsonschema.validate(doc, SCHEMA)
        return doc["targets"][0]["site_dirs"], [f["path"] for f in doc["targets"][0]["files"]]

    dirs, found = files(True)
    assert str(system) in dirs and set(theirs) <= set(found)
    dirs, found = files(False)  # control: a venv without them
    assert str(system) not in dirs and not set(theirs) & set(found)


def _dist_info(venv: Path) -> Path:
    (found,) = (venv / SITE).glob("fedora_style-*.dist-info")
    return found


def _journal_seen(dist_info: Path) -> bool:
    """The repair has begun writing: its journal (or the journal's temporary file) is there."""
    return any(n == JOURNAL or n.startswith(TEMP_PREFIX + "journal.") for n in os.listdir(dist_info))


def _wait_for_journal(proc: "subprocess.Popen[bytes]", dist_info: Path) -> bool:
    """Poll until the write phase begins (True) or the process ends first (False)."""
    while proc.poll() is None:
        if _journal_seen(dist_info):
            return True
        time.sleep(0.0002)
    return False


def test_sigkill_during_repair_env(tmp_path: Path, template: Path) -> None:
    """Killed at random moments, a repair leaves every file whole (as installed or as
    repaired) and a RECORD that the next run reconciles; the next run ends consistent.

    Half the kills land anywhere in the run (start-up, planning, writing); the other half
    are aimed inside the write phase, which begins when the journal appears: those are
    the kills that leave a journal for the next run to reconcile. The windows adapt to
    the runs observed, so a faster or slower machine still interrupts most runs."""
    site_rel = SITE / "fedora_style"
    original = {p.name: p.read_bytes() for p in sorted((template / site_rel).glob("*.so"))}

    def fresh(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(template, dest, symlinks=True)
        return dest

    def start(venv: Path) -> "subprocess.Popen[bytes]":
        return subprocess.Popen([*CLI, "repair", "--env", str(venv / "bin" / "python")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    durations, writes = [], []
    for k in range(3):
        ref = fresh(f"reference{k}")
        t0 = time.monotonic()
        proc = start(ref)
        assert _wait_for_journal(proc, _dist_info(ref)), "the repair wrote no journal"
        t1 = time.monotonic()
        assert proc.wait() == 0
        durations.append(time.monotonic() - t0)
        writes.append(time.monotonic() - t1)
    repaired = {p.name: p.read_bytes() for p in sorted((ref / site_rel).glob("*.so"))}
    assert repaired.keys() == original.keys() and all(repaired[n] != original[n] for n in original)
    listing = sorted(str(p.relative_to(ref)) for p in ref.rglob("*"))
    duration, write = min(durations), min(writes)

    seed = int(os.environ.get("DURABILITY_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    killed = {"anywhere": 0, "writing": 0}
    reconciled = 0
    runs = {"anywhere": 0, "writing": 0}
    i = 0
    # 20 runs of each kind, more (up to 60) while a kind has fewer than 8 kills: a machine
    # whose speed changes during the test still gets enough interrupted runs to judge.
    while min(runs.values()) < 20 or (min(killed.values()) < 8 and max(runs.values()) < 60):
        venv = fresh(f"run{i}")
        aim = "writing" if i % 2 else "anywhere"
        i += 1
        runs[aim] += 1
        t0 = time.monotonic()
        proc = start(venv)
        if aim == "writing":
            began = _wait_for_journal(proc, _dist_info(venv))
            t0 = time.monotonic()
            delay = rng.uniform(0.0, write) if began else 0.0
        else:
            delay = rng.uniform(0.0, duration * 1.2)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        if proc.wait() == -signal.SIGKILL:
            killed[aim] += 1
        elif aim == "anywhere":  # it ran to the end: this machine is faster now than when measured
            duration = min(duration, time.monotonic() - t0)
        elif began:  # the write phase ended before its kill: the window shrinks to it
            write = min(write, time.monotonic() - t0)
        for name in original:  # whole: as installed or as repaired, never in between
            data = (venv / site_rel / name).read_bytes()
            assert data in (original[name], repaired[name]), f"partial {name} (seed {seed}, run {i})"
        nxt = cli("repair", "--env", venv / "bin" / "python")
        assert nxt.returncode == 0, f"seed {seed}, run {i}: {nxt.stdout}{nxt.stderr}"
        reconciled += "finished an interrupted repair" in nxt.stdout
        assert {p.name: p.read_bytes() for p in (venv / site_rel).glob("*.so")} == repaired, (seed, i)
        assert record_mismatches(venv / SITE) == [], (seed, i)
        assert sorted(str(p.relative_to(venv)) for p in venv.rglob("*")) == listing, (seed, i)  # no temp, no journal
        shutil.rmtree(venv)
    print(f"\nSIGKILL during repair --env: {killed['anywhere']} of {runs['anywhere']} interrupted anywhere, "
          f"{killed['writing']} of {runs['writing']} while writing, {reconciled} reconciled by the next run "
          f"(seed {seed}, full run {duration:.3f} s, write phase {write * 1000:.1f} ms)")
    assert killed["anywhere"] >= 5 and killed["writing"] >= 5, f"too few runs interrupted (seed {seed}): {killed}"
    assert reconciled >= 1, f"no kill left a journal for the next run (seed {seed}); the test proved little"


@pytest.mark.parametrize("syscall, nth, files_done, journal", [
    ("rename", 1, 0, False),  # the journal is written but not yet in place
    ("rename", 2, 0, True),  # the journal is in place, no file yet
    ("rename", 3, 1, True),
    ("rename", 5, 3, True),
    ("rename", 6, 4, True),  # every file repaired, RECORD not yet
    ("unlink", 1, 4, True),  # RECORD rewritten, the journal not yet removed
])
def test_sigkill_at_each_step_of_repair_env(tmp_path: Path, template: Path, syscall: str, nth: int,
                                            files_done: int, journal: bool) -> None:
    """The random kills above, made exact: strace kills the repair as it enters its Nth
    rename (or first unlink), at each step boundary of the journal, files, RECORD order."""
    require(shutil.which("strace"), "strace is needed to kill at an exact system call", apt=["strace"])
    venv = tmp_path / "venv"
    shutil.copytree(template, venv, symlinks=True)
    python = venv / "bin" / "python"
    site = venv / SITE
    original = {p.name: p.read_bytes() for p in fedora_files(venv)}
    proc = run(["strace", "-f", "-o", "/dev/null", "-e", f"trace={syscall}", "-e",
                f"inject={syscall}:signal=KILL:when={nth}", *CLI, "repair", "--env", python])
    assert proc.returncode != 0, proc.stdout + proc.stderr
    now = {p.name: p.read_bytes() for p in fedora_files(venv)}
    assert sum(now[n] != original[n] for n in original) == files_done, "the kill landed elsewhere"
    assert (site / "fedora_style-1.0.dist-info" / "nolibpython-repair.json").exists() == journal
    # RECORD lags behind the files only between the first file's rename and RECORD's own.
    assert (record_mismatches(site) == []) == (files_done == 0 or syscall == "unlink")

    nxt = cli("repair", "--env", python)
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    if files_done and syscall == "rename":
        assert f"fedora_style 1.0: finished an interrupted repair: {files_done} file(s) it had rewritten are now " \
               "in RECORD" in nxt.stdout, nxt.stdout
    assert record_mismatches(site) == []
    assert not list(venv.rglob(".nolibpython-*")) and not list(venv.rglob("nolibpython-repair.json"))
    assert all(LIBPYTHON not in readelf_dynamic(so)["NEEDED"] for so in fedora_files(venv))
    assert cli("repair", "--env", python).stdout.count("nothing to repair") == 2  # and it stays so


@pytest.mark.parametrize("args, words", [
    (["check"], "check needs a PATH"),
    (["check", "--env", "/no/such/python"], "--env /no/such/python: no such file"),
    (["check", "--env", sys.executable, "--python", sys.executable], "drop --python"),
    (["check", "--env", sys.executable, "x.whl"], "give no PATH with it"),
    (["repair", "--env", sys.executable, "-w", "out"], "drop -w/--force-copy"),
    (["repair", "--dry-run", "x.whl", "-w", "out"], "--dry-run and --force go with --env"),
    (["repair", "x.whl"], "repair needs WHEEL... and -w OUTDIR"),
])
def test_usage_errors_are_one_line(tmp_path: Path, args: List[str], words: str) -> None:
    proc = run([*CLI, *args], cwd=tmp_path)
    assert proc.returncode == 2 and len(lines(proc.stderr)) == 1 and words in proc.stderr, proc.stderr
    assert not proc.stdout and list(tmp_path.iterdir()) == []


def test_two_repairs_of_one_distribution_never_interleave(venv: Path) -> None:
    """A repair holds a lock on the .dist-info directory; a second one is refused in one line."""
    import fcntl

    python = venv / "bin" / "python"
    (dist_info,) = (venv / SITE).glob("fedora_style-*.dist-info")
    before = snapshot(venv)
    fd = os.open(dist_info, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a repair under way holds it
        proc = cli("repair", "--env", python)
    finally:
        os.close(fd)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines(proc.stderr) == [
        f"fedora_style 1.0: {dist_info}: another nolibpython repair is working on it; nothing written"], proc.stderr
    assert snapshot(venv) == before
    assert cli("repair", "--env", python).returncode == 0  # control: once it is free
