"""Generated ELF fixtures (tests/elfgen.py): a correct verdict or a one-line error naming
the file, from the reader, from `check`, and from a plugin build that ships one.

Valid fixtures are first checked against readelf (an independent reader), so a pass
means the generator and the reader agree with binutils, not just with each other.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

import elfgen
import pytest
from support import built_wheel, make_project, pip_wheel, readelf_dynamic, run

from setuptools_nolibpython.elf import ElfReadError, read_elf
from setuptools_nolibpython.elfpatch import plan_edit
from setuptools_nolibpython.policy import libpython_needed
from setuptools_nolibpython.sources import BytesSource

CLI = [sys.executable, "-m", "setuptools_nolibpython"]


def check(*args: object) -> subprocess.CompletedProcess:
    return run([*CLI, "check", *map(str, args)])


def assert_clean_output(proc: subprocess.CompletedProcess) -> None:
    """No traceback and no Python exception name on either stream (a message quoting the
    ImportError an import will raise, "ImportError: ...", is a prediction, not a leak)."""
    both = proc.stdout + proc.stderr
    assert "Traceback" not in both, both
    assert "Error:" not in both.replace("error:", "").replace('"ImportError:', ""), both


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("elf-fixtures")
    for name, (spec, _) in elfgen.GOOD.items():
        elfgen.write(d / "good" / name, spec)
    for name, (spec, _) in elfgen.BAD.items():
        elfgen.write(d / "bad" / name, spec)
    return d


@pytest.mark.parametrize("name", sorted(elfgen.GOOD))
def test_valid_fixture_agrees_with_readelf(fixture_dir: Path, name: str) -> None:
    spec, has_libpython = elfgen.GOOD[name]
    path = fixture_dir / "good" / name
    info = read_elf(BytesSource(path.read_bytes(), name))
    assert info.elf_class == spec.bits and info.little_endian == spec.little
    assert list(info.needed) == list(spec.needed if spec.dynamic else ())
    assert bool(libpython_needed(info)) == has_libpython
    judge = readelf_judge(path, spec)
    assert judge["NEEDED"] == list(info.needed)
    assert judge["RPATH"] == ([":".join(info.rpath)] if info.rpath else [])
    assert judge["RUNPATH"] == ([":".join(info.runpath)] if info.runpath else [])


def readelf_judge(path: Path, spec: elfgen.ElfSpec) -> Dict[str, List[str]]:
    """readelf -d of a valid fixture; it must succeed and show (or deny) the dynamic section.

    The one complaint allowed: a planted section size past the end of the file, which
    binutils 2.40 reports on stderr ("extends past end of file") and reads on through.
    """
    proc = run(["readelf", "-dW", str(path)])
    assert proc.returncode == 0, f"readelf failed on {path.name}: {proc.stderr}"
    header = "Dynamic section at offset" if spec.dynamic else "There is no dynamic section"
    assert header in proc.stdout, proc.stdout + proc.stderr
    complaints = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if spec.claim_section_size is None:
        assert complaints == [], complaints
    else:
        assert all("extends past end of file" in c for c in complaints), complaints
    return readelf_dynamic(path)


@pytest.mark.parametrize("name", sorted(elfgen.BAD))
def test_lying_fixture_is_a_one_line_reader_error(name: str) -> None:
    spec, phrase = elfgen.BAD[name]
    data = elfgen.build(spec)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ElfReadError) as err:
            read_elf(BytesSource(data, name))
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert phrase in str(err.value) and "\n" not in str(err.value)
    # A header claiming 65,535 program headers or a 4 GiB size allocates nothing of it.
    assert peak < 1024 * 1024, f"{peak} bytes allocated for a {len(data)}-byte file"
    assert time.perf_counter() - t0 < 0.5


def test_many_dynamic_entries_bounded_time() -> None:
    """Found with elfgen: 65,530 DT_NEEDED entries took 1.6 s; now refused quickly, while a
    realistic count (a few hundred) still reads."""
    names = tuple(f"libx{i}.so" for i in range(65530))
    data = elfgen.build(replace(elfgen.VALID, needed=names))
    t0 = time.perf_counter()
    with pytest.raises(ElfReadError, match="not a real shared object"):
        read_elf(BytesSource(data))
    assert time.perf_counter() - t0 < 1.0
    ok = read_elf(BytesSource(elfgen.build(replace(elfgen.VALID, needed=names[:300]))))
    assert len(ok.needed) == 300


def test_unprintable_names_give_one_printable_line(tmp_path: Path) -> None:
    """Found by fuzzing: a DT_NEEDED/RUNPATH with invalid UTF-8 or a newline broke the
    report line (UnicodeEncodeError on print, or a message over two lines)."""
    bad_needed = "libpython3.11.so.1.0"
    runpath = "/root/.pyenv/versions/3.11\udcff\n/lib"
    path = elfgen.write(tmp_path / "weird.so", replace(elfgen.VALID, needed=(bad_needed, "libc.so.\udcb6"),
                                                         runpath=runpath))
    proc = run([*CLI, "check", str(path)], env={"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_clean_output(proc)
    lines = [ln for ln in proc.stdout.splitlines() if "weird.so" in ln and "RUNPATH" in ln]
    assert lines and "\\xff\\n" in lines[0], proc.stdout


def test_repair_plan_never_writes_past_the_dynamic_section() -> None:
    """A dynamic table with no DT_NULL inside PT_DYNAMIC: the rewrite stays inside it."""
    spec = replace(elfgen.VALID, needed=("libpython3.11.so.1.0", "libc.so.6"))
    full = elfgen.build(spec)
    info_full = read_elf(BytesSource(full))
    size = (info_full.dynamic_slots - 1) * info_full.entry_size  # drop the DT_NULL slot
    data = elfgen.build(replace(spec, claim_dynamic_size=size))
    info = read_elf(BytesSource(data))
    assert info.dynamic_slots * info.entry_size == size and len(info.entries) == info.dynamic_slots
    plan = plan_edit(BytesSource(data), info, {"libpython3.11.so.1.0"})
    table = next(p for p in plan.patches if p.offset == info.dynamic_offset)
    assert len(table.data) == size
    assert plan.removed_needed == ("libpython3.11.so.1.0",)


# ---------------------------------------------------------------- through the CLI
@pytest.mark.parametrize("name", sorted(elfgen.BAD))
def test_check_lying_file_exits_1_with_one_line(fixture_dir: Path, name: str) -> None:
    path = fixture_dir / "bad" / name
    proc = check(path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert_clean_output(proc)
    _, phrase = elfgen.BAD[name]
    lines = [ln for ln in proc.stdout.splitlines() if name in ln and "unreadable" in ln]
    assert len(lines) == 1 and phrase in lines[0], proc.stdout


def test_check_tree_of_fixtures_verdicts(fixture_dir: Path) -> None:
    proc = check("--json", "--check-symbols", "off", fixture_dir)
    assert proc.returncode == 1
    assert_clean_output(proc)
    doc = json.loads(proc.stdout)
    verdicts = {Path(f["path"]).name: f["verdict"] for t in doc["targets"] for f in t["files"]}
    for name, (_, has_libpython) in elfgen.GOOD.items():
        assert verdicts[name] == ("violation" if has_libpython else "clean"), name
    for name in elfgen.BAD:
        assert verdicts[name] == "unreadable", name


def test_check_clean_fixtures_exit_0(fixture_dir: Path, tmp_path: Path) -> None:
    """Negative control: the same CLI passes the valid libpython-free fixtures."""
    for name, (spec, has_libpython) in elfgen.GOOD.items():
        if not has_libpython:
            elfgen.write(tmp_path / name, spec)
    proc = check("--check-symbols", "off", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zero_length_and_truncated_files(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "empty.so").write_bytes(b"")  # not ELF: no magic, passed over
    (tmp_path / "tree" / "magic.so").write_bytes(b"\x7fELF")
    proc = check("--check-symbols", "off", tmp_path / "tree")
    assert proc.returncode == 1
    assert_clean_output(proc)
    assert "magic.so" in proc.stdout and "empty.so" not in proc.stdout
    alone = check(tmp_path / "tree" / "empty.so")  # named explicitly: a one-line refusal
    assert alone.returncode != 0
    assert_clean_output(alone)
    assert len((alone.stdout + alone.stderr).strip().splitlines()) == 1
    assert "empty.so" in alone.stdout + alone.stderr


def test_check_wheel_holding_lying_files(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
    import seeds

    members = {f"probe/{n}.so": elfgen.build(s) for n, (s, _) in elfgen.BAD.items() if s.truncate != 4}
    wheel = tmp_path / "probe-1.0-cp311-cp311-linux_x86_64.whl"
    wheel.write_bytes(seeds.wheel_bytes(members, compression=8))
    proc = check("--check-symbols", "off", wheel)
    assert proc.returncode == 1
    assert_clean_output(proc)
    for member in members:
        assert sum(member in ln for ln in proc.stdout.splitlines()) == 1, (member, proc.stdout)


# ---------------------------------------------------------------- through a plugin build
PACKAGE_DATA = '[tool.setuptools.package-data]\nprobe = ["data/*.so"]\n'


def _project_with_data(root: Path, data: bytes) -> Path:
    make_project(root, pyproject_extra=PACKAGE_DATA)
    (root / "probe" / "data").mkdir()
    (root / "probe" / "data" / "blob.so").write_bytes(data)
    return root


def test_build_shipping_a_lying_file_fails_cleanly(tmp_path: Path, wheelhouse: Path) -> None:
    bad = elfgen.build(elfgen.BAD["dynamic-past-eof"][0])
    project = _project_with_data(tmp_path / "bad", bad)
    out = tmp_path / "out-bad"
    proc = pip_wheel(project, out, wheelhouse)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    lines = [ln for ln in text.splitlines() if "probe/data/blob.so" in ln and "past the end of the file" in ln]
    assert lines, text[-3000:]
    assert "Traceback" not in text[text.find("setuptools-nolibpython"):], text[-3000:]
    assert not (out.exists() and list(out.glob("*.whl"))), "a failed build left a wheel behind"

    # Control: the same project shipping a valid libpython-free ELF file builds.
    good = _project_with_data(tmp_path / "good", elfgen.build(elfgen.VALID))
    ok = pip_wheel(good, tmp_path / "out-good", wheelhouse)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "probe/data/blob.so" in "\n".join(__import__("zipfile").ZipFile(built_wheel(tmp_path / "out-good"))
                                             .namelist())


# ---------------------------------------------------------------- fuzz smoke run
def test_fuzz_smoke(tmp_path: Path) -> None:
    """A 30-second run of fuzz/fuzz_check.py (what `make fuzz` runs for FUZZ_SECONDS):
    no uncaught exception, no input over 1 s, bounded memory."""
    harness = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_check.py"
    proc = run([sys.executable, str(harness), "--seconds", "30", "--workdir", str(tmp_path), "--seed", "1"],
               timeout=240)
    stats = json.loads((tmp_path / "stats.json").read_text())
    crashes = [p.name for p in (tmp_path / "crashes").iterdir()]
    assert proc.returncode == 0 and not crashes, (crashes, proc.stderr[-3000:])
    assert stats["executions"] >= 3000, stats
    assert stats["inputs_over_1s"] == 0 and stats["slowest_seconds"] < 1.0, stats
    assert stats["peak_rss_mb"] < 512, stats
