"""Fuzz the ELF reader and the whole check path; atheris when installed, else a mutator.

The first input byte picks what the rest is:
  0  an ELF file: read_elf, the policy, the repair plan (applied and re-read), report lines
  1  one member of an otherwise proper wheel: scan_wheel and its report
  2  a whole zip file: wheel_problems, scan_wheel, and repair into a scratch directory

A finding is any exception other than the documented one-line errors (ElfReadError from
the reader, RepairError from repair), a broken invariant (a repair plan that patches
outside the file or leaves libpython behind, a message that cannot be printed as UTF-8),
or an input that takes over SLOW_SECONDS. Crashing inputs are written to
``<workdir>/crashes``, slow ones to ``<workdir>/slow``; running totals (executions,
slowest input, peak RSS) go to ``<workdir>/stats.json`` every second.

Usage: python fuzz/fuzz_check.py --seconds 300 [--workdir .cache/fuzz] [--engine atheris|mutate]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SLOW_SECONDS = 1.0
MAX_LEN = 96 * 1024


def _import_target(instrument: bool) -> Dict[str, Any]:
    """Import the code under test (instrumented for coverage when atheris runs)."""
    def load() -> Dict[str, Any]:
        from setuptools_nolibpython import elf, elfpatch, policy, report, results, scan, sources, wheelsafety

        mods: Dict[str, Any] = dict(elf=elf, elfpatch=elfpatch, policy=policy, report=report, results=results,
                                    scan=scan, sources=sources, wheelsafety=wheelsafety)
        for optional in ("wheelrepair", "symbols"):  # written by other work streams
            try:
                mods[optional] = importlib.import_module(f"setuptools_nolibpython.{optional}")
            except ImportError:
                pass
        return mods

    if instrument:
        import atheris

        with atheris.instrument_imports(include=["setuptools_nolibpython", "elftools", "zipfile"]):
            return load()
    return load()


class Harness:
    def __init__(self, workdir: Path, mods: Dict[str, Any]) -> None:
        self.m = mods
        self.workdir = workdir
        self.scratch = Path(tempfile.mkdtemp(prefix="nolibpython-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                                             else None))
        self.executions = 0
        self.slowest = 0.0
        self.slowest_sha = ""
        self.slow_inputs = 0
        self.crashes = 0
        self.started = time.monotonic()
        self.last_stats = 0.0
        for d in ("crashes", "slow"):
            (workdir / d).mkdir(parents=True, exist_ok=True)
        import seeds

        self.seeds = seeds

    # -------------------------------------------------------------- the three modes
    def check_elf(self, body: bytes) -> None:
        elf, policy, elfpatch, report = (self.m[k] for k in ("elf", "policy", "elfpatch", "report"))
        src = self.m["sources"].BytesSource(body, "fuzz.so")
        try:
            info = elf.read_elf(src)
        except elf.ElfReadError as exc:
            _printable(str(exc))
            if "\n" in str(exc):
                raise AssertionError(f"multi-line error: {exc!r}") from None
            return
        problems = policy.libpython_problems(info)
        drop_rpath = policy.removable_rpath_entries(info, ("/build/python/lib",), lambda d: "python" in d)
        problems += policy.rpath_problems(info, drop_rpath)
        for line in report.problem_lines(self.m["results"].FileResult("fuzz.so", info, tuple(problems))):
            _printable(line)
        needed = set(policy.libpython_needed(info))
        try:
            plan = elfpatch.plan_edit(src, info, needed, set(info.rpath + info.runpath))
        except elf.ElfReadError:
            return
        if plan.empty:
            return
        data = bytearray(body)
        table_end = info.dynamic_offset + info.dynamic_slots * info.entry_size
        for p in plan.patches:
            if p.offset == info.dynamic_offset and p.offset + len(p.data) > table_end:
                raise AssertionError(f"dynamic table rewrite of {len(p.data)} bytes runs past PT_DYNAMIC")
            if p.offset < 0 or p.offset + len(p.data) > len(body):
                raise AssertionError(f"patch at {p.offset:#x}+{len(p.data)} outside a {len(body)}-byte file")
        elfpatch.apply_patches(data, plan.patches)
        after = elf.read_elf(self.m["sources"].BytesSource(bytes(data), "patched"))
        if policy.libpython_needed(after):
            raise AssertionError(f"repair left {policy.libpython_needed(after)} in DT_NEEDED")
        if set(after.rpath + after.runpath) & set(info.rpath + info.runpath) - {""}:
            raise AssertionError("repair left RPATH entries it was asked to drop")

    def check_member(self, body: bytes) -> None:
        path = self.scratch / "member.whl"
        path.write_bytes(self.seeds.wheel_bytes({"probe/_x.so": body}))
        self._scan(path)

    def check_zip(self, body: bytes) -> None:
        path = self.scratch / "input.whl"
        path.write_bytes(body)
        self._scan(path)
        repair = self.m.get("wheelrepair")
        if repair is None:
            return
        out = self.scratch / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        try:
            repair.repair_wheel(str(path), str(out))
        except repair.RepairError as exc:
            _printable(str(exc))
            left = os.listdir(out)
            if left:
                raise AssertionError(f"repair failed but left {left} in the output directory") from None

    def _scan(self, path: Path) -> None:
        """The CLI's default scan, the symbol check included."""
        scan, report, results = self.m["scan"], self.m["report"], self.m["results"]
        rep = scan.scan_wheel(str(path), results.ScanOptions(symbols=results.SymbolSettings()))
        _printable(report.summary(rep))
        for f in rep.files:
            for line in report.problem_lines(f, str(path)):  # the build log's and the CLI's line
                _printable(line)
            if hasattr(report, "file_document"):  # check --json
                json.dumps(report.file_document(f))
        for e in rep.errors:
            _printable(e)

    # -------------------------------------------------------------- driver
    def one_input(self, data: bytes) -> None:
        if not data:
            return
        mode, body = data[0] % 3, data[1:]
        t0 = time.perf_counter()
        try:
            (self.check_elf, self.check_member, self.check_zip)[mode](body)
        finally:
            dt = time.perf_counter() - t0
            self.executions += 1
            if dt > self.slowest:
                self.slowest, self.slowest_sha = dt, hashlib.sha1(data).hexdigest()
            if dt > SLOW_SECONDS:
                self.slow_inputs += 1
                (self.workdir / "slow" / f"slow-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
            now = time.monotonic()
            if now - self.last_stats > 1.0:
                self.write_stats()
                self.last_stats = now

    def record_crash(self, data: bytes) -> Path:
        self.crashes += 1
        p = self.workdir / "crashes" / f"crash-{hashlib.sha1(data).hexdigest()}"
        p.write_bytes(data)
        (p.parent / (p.name + ".txt")).write_text(traceback.format_exc())
        return p

    def write_stats(self) -> None:
        stats = {
            "executions": self.executions,
            "seconds": round(time.monotonic() - self.started, 1),
            "slowest_seconds": round(self.slowest, 4),
            "slowest_input_sha1": self.slowest_sha,
            "inputs_over_1s": self.slow_inputs,
            "crashes": self.crashes,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        tmp = self.workdir / "stats.json.tmp"
        tmp.write_text(json.dumps(stats, indent=1))
        os.replace(tmp, self.workdir / "stats.json")

    def close(self) -> None:
        self.write_stats()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _printable(text: str) -> None:
    """Every message must reach a UTF-8 terminal or log as one line."""
    text.encode("utf-8")
    if "\n" in text or "\r" in text:
        raise AssertionError(f"message spans lines: {text!r}")


# ------------------------------------------------------------------ mutation engine
INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 32,
               (1 << 63) - 1, (1 << 64) - 1]


def mutate(rng: random.Random, data: bytes, others: List[bytes]) -> bytes:
    """A few random edits that stay mostly structure-preserving (the first byte is the mode)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if len(buf) < 2:
            buf += bytes(rng.randrange(256) for _ in range(8))
        op = rng.randrange(8)
        i = rng.randrange(1, len(buf))
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif op in (2, 3):  # an aligned integer field, either byte order
            width = rng.choice((2, 4, 8))
            i = 1 + (i - 1) // width * width
            val = rng.choice(INTERESTING + [rng.randrange(len(buf) + 64), rng.randrange(1 << 32)])
            val &= (1 << (8 * width)) - 1
            raw = val.to_bytes(width, rng.choice(("little", "big")))
            buf[i : i + width] = raw
        elif op == 4:
            del buf[rng.randrange(1, len(buf)) :]
        elif op == 5:
            j = rng.randrange(1, len(buf))
            buf[i:i] = buf[j : j + rng.randint(1, 64)]
        elif op == 6 and others:
            other = rng.choice(others)
            j = rng.randrange(1, max(2, len(other)))
            buf[i : i + 64] = other[j : j + 64]
        else:
            del buf[i : i + rng.randint(1, 32)]
    return bytes(buf[:MAX_LEN])


def run_mutator(harness: Harness, corpus: List[bytes], seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    for data in corpus:  # the seeds themselves first
        _guarded(harness, data)
    while time.monotonic() < deadline:
        for _ in range(50):
            _guarded(harness, mutate(rng, rng.choice(corpus), corpus))


def _guarded(harness: Harness, data: bytes) -> None:
    try:
        harness.one_input(data)
    except Exception:
        p = harness.record_crash(data)
        print(f"CRASH: {p}\n{traceback.format_exc()}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "300")))
    ap.add_argument("--workdir", type=Path, default=Path(".cache/fuzz"))
    ap.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--replay", nargs="*", type=Path, help="run these inputs once each and exit")
    args, rest = ap.parse_known_args(argv)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "mutate"
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus_dir = args.workdir / "corpus"
    import seeds

    if not any(corpus_dir.glob("seed-*")):
        seeds.write_corpus(corpus_dir)
    mods = _import_target(instrument=engine == "atheris" and not args.replay)
    harness = Harness(args.workdir, mods)
    print(f"fuzz: engine={engine} seconds={args.seconds} workdir={args.workdir}", flush=True)
    if args.replay is not None:
        for p in args.replay:
            _guarded(harness, p.read_bytes())
        harness.close()
        return 1 if harness.crashes else 0
    if engine == "mutate":
        corpus = [p.read_bytes() for p in sorted(corpus_dir.iterdir()) if p.is_file()]
        run_mutator(harness, corpus, args.seconds, args.seed)
        harness.close()
        print(json.dumps(json.loads((args.workdir / "stats.json").read_text())), flush=True)
        return 1 if harness.crashes or harness.slow_inputs else 0

    import atheris

    def test_one_input(data: bytes) -> None:
        harness.one_input(data)

    lib_args = [sys.argv[0], f"-max_total_time={int(args.seconds)}", "-timeout=5", "-rss_limit_mb=2048",
                f"-max_len={MAX_LEN}", f"-artifact_prefix={args.workdir}/crashes/", f"-dict={HERE / 'elf.dict'}",
                "-print_final_stats=1", f"-seed={args.seed}", *rest, str(corpus_dir)]
    import atexit

    atexit.register(harness.close)
    atheris.Setup(lib_args, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
