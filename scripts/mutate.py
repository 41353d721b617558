#!/usr/bin/env python3
"""Mutation check: break central behaviours one at a time and run the tests that must notice.

    python scripts/mutate.py [--only ID ...] [--keep]

The repository's files (tracked and new, as ``git ls-files`` lists them) are copied to
a temporary directory. The listed tests first run there unmutated and must all pass,
none skipped (a skip would make "caught" meaningless). Then each mutant, an exact-text
substitution in one package file, is applied to the copy, its tests run with
``PYTHONPATH`` pointing at the copy (so the package, the tests and the plugin wheel the
tests build all come from the mutated sources), and the file is restored.

A mutant is CAUGHT when its tests fail (pytest exit status 1), SURVIVED when they pass,
and ERROR when its anchor text is not found exactly once in the file, or pytest stops
for another reason (usage error, nothing collected, interrupted): anchors are single
characteristic lines or fragments, so after the code moves an ERROR says which anchor to
update. Exit status 0 only when the clean run passes and every mutant is caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
PKG = "setuptools_nolibpython"


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the package
    old: str  # must occur exactly once
    new: str
    tests: Tuple[str, ...]  # pytest node ids that must catch it
    what: str


MUTANTS: Tuple[Mutant, ...] = (
    Mutant("rpath-serving-entry-dropped", "policy.py",
           "if any(lib_exists(os.path.join(entry, n)) for n in others):", "if False:",
           ("tests/test_rpath_serving.py",),
           "an RPATH entry that also serves another needed library is removed"),
    Mutant("rpath-tail-edit-lost", "elfpatch.py",
           "if not removed_needed and not removed_rpath:", "if len(kept) == len(info.entries) and not patches:",
           ("tests/test_rpath_serving.py::test_build_strips_libpython_keeps_the_serving_entry",),
           "dropping a leading RPATH entry (pointer moved to the tail) is planned as no edit"),
    Mutant("ignore-all-not-appended", "linkflags.py",
           '"-Wl,--unresolved-symbols=ignore-all",', "",
           ("tests/test_link_command.py::test_plugin_appends_ignore_all_last",),
           "the flag that cancels -z defs is no longer appended"),
    Mutant("z-defs-kept", "linkflags.py",
           'if w == "-z" and nxt == "defs":', "if False:",
           ("tests/test_link_command.py::test_plugin_removes_every_ban_from_the_link",),
           "the filter no longer removes -z defs"),
    Mutant("link-filter-keeps-lpython", "linkflags.py",
           'elif w.startswith("-l") and len(w) > 2 and is_libpython_libname(w[2:]):', "elif False:",
           ("tests/unit/test_link_flag_filtering.py",),
           "the link-flag filter keeps -lpythonX.Y"),
    Mutant("repair-verification-skips-members", "wheelsafety.py",
           "out += _verify_member(zf, zf.getinfo(name), expected)[0]", "pass",
           ("tests/test_repair_big.py::test_stale_row_is_caught_by_the_repair_verification",),
           "the hash check of the members repair changed checks nothing"),
    Mutant("record-rewrite-keeps-old-row", "wheelrepair.py",
           "        if name in new:", "        if name in new and False:",
           ("tests/test_repair_big.py::test_big_wheel_repaired_with_a_correct_record",),
           "RECORD keeps a patched member's old row (in a wheel over 16 MiB)"),
    Mutant("violation-shown-as-warning", "report.py",
           '("unreadable" if result.info is None else "violation")', '"warning"',
           ("tests/test_plugin_incremental.py::test_inplace_violation_fails",),
           "a failing build labels its libpython error as a warning"),
    Mutant("stable-abi-shim-not-libpython", "names.py",
           r'r"^libpython(?P<ver>[23](?:\.\d+)?)', r'r"^libpython(?P<ver>[23]\.\d+)',
           ("tests/test_plugin_options.py::test_every_libpython_spelling_fails_the_build",),
           "libpython3.so is no longer a libpython name (only a missing-library warning names it)"),
    Mutant("name-rule-drops-d-and-t", "names.py",
           r"(?P<abi>[dmtu]*)(?:\.(?P<so>", r"(?P<abi>[mu]*)(?:\.(?P<so>",
           ("tests/unit/test_libpython_names.py",),
           "debug (d) and free-threaded (t) libpython file names are not recognised"),
    Mutant("libpython-verdict-warning", "findings.py",
           "return Problem(code, Severity.ERROR, message, fix, name)",
           "return Problem(code, Severity.WARNING, message, fix, name)",
           # (an extension module's verdict: the CLI tests check the interpreter, a program since issue 11)
           ("tests/test_programs_in_wheels.py::test_program_gets_its_own_verdict_and_fix",),
           "a libpython DT_NEEDED is only a warning"),
    Mutant("symbol-report-silent", "symbols.py",
           "for sym in syms[:MAX_LISTED]:", "for sym in syms[:0]:",
           ("tests/test_symbols.py::test_missing_symbol_predicted_exactly_as_import_fails",),
           "undefined symbols are no longer reported"),
    Mutant("short-member-raw-error", "sources.py",
           'raise SourceError(f"member ended at', 'raise EOFError(f"member ended at',
           ("tests/unit/test_zip_member_reads.py::test_member_shorter_than_declared_is_a_one_line_error",),
           "a member shorter than declared raises a raw EOFError, not SourceError"),
    Mutant("reader-reads-to-the-end", "elf.py",
           'raw = read_bytes(src, dyn.offset, slots * entry_size, "dynamic section")',
           'read_bytes(src, src.size - 1, 1, "end"); '
           'raw = read_bytes(src, dyn.offset, slots * entry_size, "dynamic section")',
           ("tests/test_streaming.py::test_generated_big_member_inflated_only_to_its_dynamic_section",),
           "the reader inflates a big member to its end"),
    Mutant("env-record-not-rewritten", "envrepair.py",
           "_commit_record(dist, {x.record_path: x.new for x in result.fixes})", "pass",
           ("tests/test_installed_environment.py::test_repair_env_makes_the_import_work_and_keeps_every_record_true",),
           "repair --env rewrites installed files but leaves RECORD's old hashes"),
    Mutant("env-hand-edit-accepted", "envrepair.py",
           "problem = row_mismatch(f.path, RecordRow(f.row.path, *old))", "problem = None",
           ("tests/test_installed_environment.py::test_a_hand_edited_file_is_refused",),
           "repair --env edits a file that no longer matches its RECORD"),
    Mutant("env-interrupted-not-reconciled", "envrepair.py",
           "done = _reconcile(result, journal, force)", "done = {}",
           ("tests/test_installed_environment.py::test_sigkill_at_each_step_of_repair_env",),
           "a run after a killed repair --env ignores its journal"),
    Mutant("pep793-module-not-a-module", "dynsym.py",
           '(b"PyInit_", b"PyModExport_")', '(b"PyInit_",)',
           ("tests/test_abi3t.py::test_pep793_module_is_recognised_and_passes",),
           "a module with only PyModExport_ (PEP 793) is not recognised as an extension module"),
    Mutant("abi3t-name-not-stable-abi", "pybuild.py",
           r're.compile(r"\.abi3(t?)[.-]")', r're.compile(r"\.abi3()[.-]")',
           ("tests/test_abi3t.py::test_abi3t_outside_stable_abi_is_flagged",),
           "an .abi3t.so module is not held to the Stable ABI"),
    Mutant("free-threaded-judged-by-gil", "symbols.py",
           "            return mine == build\n", "            return mine[0] == build[0]\n",
           ("tests/test_abi3t.py::test_free_threaded_module_is_not_judged_by_a_gil_build",),
           "a free-threaded (cp315t) module is judged against a GIL build's exports"),
    # -- a gate CI can trust (tests named after each behaviour)
    Mutant("pie-with-soname-is-a-library", "elf.py",
           "return self.soname is None or bool(flags_1 & DF_1_PIE)", "return self.soname is None",
           ("tests/test_program_definition.py",),
           "a PIE with a DT_SONAME is taken for a library (repair strips its libpython)"),
    Mutant("missing-library-is-an-error", "symbols.py",
           "severity = WARNING if program else self.missing_severity", "severity = WARNING if program else ERROR",
           ("tests/test_check_missing_libraries.py::test_ctypes_preloaded_library_imports_and_warns",),
           "a library the package preloads (ctypes) fails check without --strict"),
    Mutant("wheels-not-checked-together", "symbols.py",
           "check.loaded_first.setdefault(p.name, (p.target, p.library))", "pass",
           ("tests/test_check_missing_libraries.py::test_a_and_b_checked_together_give_no_warning",),
           "a library another wheel of the same call ships does not satisfy a DT_NEEDED"),
    Mutant("allow-waives-everything", "results.py",
           "if any(not self.waived(p) for p in errors):", "if errors and not self.allowed:",
           ("tests/test_check_allow.py::test_allow_does_not_waive_an_undefined_symbol",),
           "allow waives an undefined symbol too"),
    Mutant("directory-wheels-not-opened", "scan.py",
           'if rel.endswith(".whl"):', "if False:",
           ("tests/test_check_targets.py::test_directory_holding_a_violating_wheel_fails",),
           "check DIR passes over the wheels in it"),
    Mutant("bug-is-unreadable", "scan.py",
           "raise InternalError(path, exc) from exc", "return FileResult(path, None, (_unreadable(exc),))",
           ("tests/test_check_internal_errors.py::test_a_bug_is_an_internal_error_not_a_verdict",),
           "a bug while judging a file is reported as the file being unreadable"),
    Mutant("near-miss-table-silent", "config.py",
           "_refuse_near_miss(tool, path)", "pass",
           ("tests/test_config_near_miss.py::test_every_near_miss_names_the_right_spelling",),
           "a misspelled table is ignored silently"),
    # issue 25: eight behaviours no test held
    Mutant("library-two-word-kept", "linkflags.py",
           'if w in ("-l", "--library") and nxt is not None', 'if w == "-l" and nxt is not None',
           ("tests/unit/test_link_flag_filtering.py",
            "tests/test_link_flags_at_real_links.py::test_two_word_library_forms_are_stripped"),
           "-Wl,--library,python3.11 and -Xlinker --library -Xlinker python3.11 reach the linker"),
    Mutant("no-rpath-ignored", "cli.py",
           "check_rpath=args.check_rpath,", "check_rpath=True,",
           ("tests/test_cli.py::test_no_rpath_silences_the_python_lib_dir_warning",),
           "check --no-rpath still warns about a Python-lib-dir RPATH"),
    Mutant("libgl-not-a-system-library", "syslibs.py",
           '"libGL.so.1", ', "",
           ("tests/unit/test_system_libraries.py",),
           "libGL.so.1 (manylinux's lib_whitelist) is no longer a system library"),
    Mutant("signatures-kept", "wheelrepair.py",
           "n.endswith(_SIGNATURES)]", "n.endswith(_SIGNATURES) and False]",
           ("tests/test_repair_signed.py::test_signed_record_is_dropped_and_the_drop_reported",),
           "repair keeps RECORD.jws/RECORD.p7s that sign the old RECORD, and says nothing"),
    Mutant("repaired-wheel-mode-0600", "wheelrepair.py",
           'AtomicFile(final, 0o666 & ~umask, suffix=".whl.part")', 'AtomicFile(final, 0o600, suffix=".whl.part")',
           ("tests/test_repair_mode.py",),
           "a repaired wheel keeps its temporary file's 0600, unreadable to other users"),
    Mutant("cxx-linker-unfiltered", "commands.py",
           'for attr in ("linker_so", "linker_so_cxx"):', 'for attr in ("linker_so",):',
           ("tests/test_build_cxx.py",),
           "LDFLAGS' libpython reaches the C++ link command (linker_so_cxx)"),
    Mutant("drive-letter-member-allowed", "wheelsafety.py",
           ' or re.match(r"^[A-Za-z]:", name)', "",
           ("tests/test_hostile_wheels.py::test_windows_drive_letter_member_is_refused",),
           "a member named C:/evil.py is not refused as an absolute path"),
    Mutant("rpath-searched-beside-runpath", "ldso.py",
           "if not requester.runpath:", "if True:",
           ("tests/test_library_search.py",),
           "a file's RPATH is searched although it has a RUNPATH (ld.so ignores it)"),
    # issue 25, the sweep: CLI options and table keys that no test held
    Mutant("strip-rpath-ignored-on-wheels", "enforce.py",
           "strip_rpath=self.config.strip_rpath,", "strip_rpath=True,",
           ("tests/test_table_keys.py::test_strip_rpath_false_keeps_the_runpath",),
           "the wrapper's wheels lose their RPATH under strip-rpath = false"),
    Mutant("repair-mode-ignored-on-wheels", "enforce.py",
           'remove_libpython=self.config.on_violation == "repair"', "remove_libpython=False",
           ("tests/test_table_keys.py::test_on_violation_error_warn_repair",),
           'on-violation = "repair" leaves libpython in the wrapper\'s wheels'),
    Mutant("allow-ignored-by-build-repair", "enforce.py",
           " and not is_allowed(name, self.config.allow),", ",",
           ("tests/test_table_keys.py::test_allow_keeps_libpython_under_repair",),
           'on-violation = "repair" strips libpython from a file the table allows'),
    Mutant("backend-key-dropped", "config.py",
           'values["backend"] = ":".join', '_ = ":".join',
           ("tests/unit/test_config.py::test_full_table",),
           "the table's backend key is read and then forgotten"),
    Mutant("repair-first-wheel-only", "cli.py",
           "for w in args.wheels:\n        try:", "for w in args.wheels[:1]:\n        try:",
           ("tests/test_repair.py::test_every_wheel_and_every_allow_glob",),
           "repair WHEEL WHEEL repairs the first wheel only"),
    Mutant("check-allow-last-only", "cli.py",
           "allow=tuple(args.allow),", "allow=tuple(args.allow[-1:]),",
           ("tests/test_cli.py::test_allow_is_repeatable",),
           "check --allow A --allow B honours B only"),
    Mutant("repair-allow-first-only", "cli.py",
           "allow=args.allow,\n", "allow=args.allow[:1],\n",
           ("tests/test_repair.py::test_every_wheel_and_every_allow_glob",),
           "repair --allow A --allow B honours A only"),
    Mutant("wrapper-ignores-backend", "wrap.py",
           "    spec = config.backend\n", '    spec = "setuptools.build_meta"\n',
           ("tests/unit/test_backend_wrapper_config.py::test_optional_hooks_follow_the_inner_backend",),
           "the wrapper runs setuptools whatever backend the table names"),
)


def copy_repo(dest: Path) -> None:
    """The tracked and new (not ignored) files of the working tree, as they are now."""
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    wheels = REPO / ".cache" / "wheels"
    if wheels.is_dir():  # downloaded corpus wheels: shared, read-only for the tests
        (dest / ".cache").mkdir(exist_ok=True)
        os.symlink(wheels, dest / ".cache" / "wheels")


def run_tests(copy: Path, nodes: Sequence[str], junit: Optional[Path] = None) -> Tuple[int, float, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["NOLIBPYTHON_COMPAT_RESULTS"] = str(copy / ".cache" / "compat" / "results.jsonl")
    argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *nodes]
    if junit is not None:
        argv += ["--junitxml", str(junit)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True)
    return proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr


def junit_counts(path: Path) -> Dict[str, int]:
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    return {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}


def apply(path: Path, mutant: Mutant) -> Optional[str]:
    """Mutate the file in place; the reason it cannot be done, or None."""
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        return f"anchor found {count} times in {PKG}/{mutant.file} (must be exactly once): {mutant.old!r}"
    path.write_text(text.replace(mutant.old, mutant.new))
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.id in args.only]
    unknown = set(args.only or ()) - {m.id for m in MUTANTS}
    if unknown:
        print(f"mutate: unknown mutant id(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="nolibpython-mutate-"))
    try:
        copy = tmp / "repo"
        copy.mkdir()
        copy_repo(copy)
        nodes = list(dict.fromkeys(n for m in mutants for n in m.tests))
        rc, secs, out = run_tests(copy, nodes, tmp / "clean.xml")
        counts = junit_counts(tmp / "clean.xml") if (tmp / "clean.xml").exists() else {}
        clean_ok = rc == 0 and counts.get("skipped", 1) == 0
        print(f"clean run: {len(nodes)} test targets, {counts.get('tests', 0)} tests, "
              f"{counts.get('skipped', '?')} skipped, exit {rc}, {secs:.1f} s: {'ok' if clean_ok else 'FAILED'}")
        if not clean_ok:
            print(out[-6000:])
            print("mutate: the unmutated tests must pass with nothing skipped; no mutant was run", file=sys.stderr)
            return 1
        rows: List[Tuple[str, str, str, float, str]] = []
        for m in mutants:
            path = copy / PKG / m.file
            original = path.read_text()
            problem = apply(path, m)
            if problem is not None:
                rows.append((m.id, m.file, "ERROR", 0.0, problem))
                continue
            try:
                rc, secs, out = run_tests(copy, m.tests)
            finally:
                path.write_text(original)
            status = {1: "caught", 0: "SURVIVED"}.get(rc, "ERROR")
            detail = m.what if rc in (0, 1) else f"pytest exit {rc}: {out.strip().splitlines()[-1:]}"
            rows.append((m.id, m.file, status, secs, detail))
            print(f"  {m.id}: {status} ({secs:.1f} s)", flush=True)
    finally:
        if args.keep:
            print(f"copy kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print()
    print(f"| {'mutant':<{width}} | file | result | seconds | breakage |")
    print(f"|{'-' * (width + 2)}|---|---|---:|---|")
    for mid, file, status, secs, detail in rows:
        print(f"| {mid:<{width}} | {file} | {status} | {secs:.1f} | {detail} |")
    caught = sum(r[2] == "caught" for r in rows)
    total = time.monotonic() - start
    print(f"\n{caught}/{len(rows)} caught, {sum(r[2] == 'SURVIVED' for r in rows)} survived, "
          f"{sum(r[2] == 'ERROR' for r in rows)} errors; total runtime {total:.0f} s")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
