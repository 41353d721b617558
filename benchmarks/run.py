"""``make bench``: one report of how fast and how lean the checker is, in one run.

For each wheel of the corpus (tests/support's pinned PyPI wheels, plus the torch wheel
where pip's find-links holds it) it measures, interleaved round by round so that a load
spike hits every contestant alike, the median wall time of fresh processes:

- ``check``: our CLI on the wheel (``--check-symbols off``; with symbols as its own column)
- ``floor``: a Python process that only inflates the wheel's ELF members (benchmarks/floor.py)
- ``auditwheel show`` on the wheel
- ``readelf -d`` over the ELF files of the unpacked wheel, one process for all files
- ``tree scan``: the in-build path over the unpacked tree (benchmarks/treescan.py), and
  the same scan handed exactly the files readelf gets ("same files")

then what bare start-up costs, the scaling lines (benchmarks/scaling.py) and the plugin's
overhead on a real ``pip wheel`` (benchmarks/overhead.py). Targets are checked against
the figures and the whole report goes to stdout and docs/performance.md (written once,
atomically, at the end). Exit status 0 once written (``--strict``: 1 if a target is not
held), 2 if a measured command failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import overhead, parallel, reader, scaling, wrapper
from .measure import CommandFailedError, Sample, median, run_timed

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the dev venv: auditwheel, pip for the overhead builds
BENCH_VENV = REPO / ".cache" / "bench-venv"
OUTPUT = REPO / "docs" / "performance.md"
BIG_WHEEL = 50 * 1024 * 1024
BENCH_SMALL_ELF = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")

# Targets (issue 6). Each is checked against the table and reported as held or not.
FLOOR_RATIO_MAX = 1.5
AUDITWHEEL_RATIO_MIN = 20.0
AUDITWHEEL_TARGET_WHEELS = ("scipy", "torch")
RSS_MAX_MB = 100.0
TREE_RATIO_MAX = 3.0
OVERHEAD_MAX_PCT = 5.0
PARALLEL_MIN_SPEEDUP = 1.6


@dataclass
class WheelRow:
    name: str
    path: Path
    size: int
    unpacked: int
    elf_count: int
    runs: int
    times: Dict[str, List[Sample]] = field(default_factory=dict)

    def t(self, key: str) -> float:
        return median([s.seconds for s in self.times.get(key, [])])

    def cpu(self, key: str) -> float:
        return median([s.cpu_seconds for s in self.times.get(key, [])])

    def rss(self, key: str) -> float:
        return max((s.peak_rss_mb for s in self.times.get(key, [])), default=float("nan"))


def bench_venv() -> Path:
    """A venv with the plugin installed the way users get it (a regular, non-editable install).

    The dev venv's editable install adds an import hook to every process start (~50 ms,
    more than a whole readelf run); measuring through it would charge our start-up with
    a cost no user pays. The floor and the tree scan run in this same venv, so every
    Python contestant starts alike.
    """
    py = BENCH_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    from importlib.metadata import version

    with tempfile.TemporaryDirectory(prefix="nolibpython-bench-wheel-") as out:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out,
                        str(REPO)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wheel = next(Path(out).glob("setuptools_nolibpython-*.whl"))
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--force-reinstall", str(wheel), f"pyelftools=={version('pyelftools')}",
                        f"packaging=={version('packaging')}"], check=True)
    # What the build benchmarks build with (--no-build-isolation): the dev venv's setuptools,
    # and scikit-build-core for the wrapper (the system's cmake and ninja).
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    f"setuptools=={version('setuptools')}", f"wheel=={version('wheel')}", "scikit-build-core"],
                   check=True)
    return py


def corpus(only: Sequence[str]) -> List[Tuple[str, Path]]:
    """The pinned PyPI wheels (downloaded once into .cache/wheels) and torch where present."""
    sys.path.insert(0, str(REPO / "tests"))
    from support import CORPUS, download_wheel  # type: ignore[import-not-found]

    from devtools.machine import torch_wheel

    out: List[Tuple[str, Path]] = [(name, Path(download_wheel(name))) for name in CORPUS]
    torch = torch_wheel()
    if torch is not None:
        out.append(("torch", Path(torch)))
    else:
        print("note: no torch wheel in pip's find-links directory; torch rows are left out", file=sys.stderr)
    return [(n, p) for n, p in out if not only or n in only]


def check_command(py: Path) -> Tuple[str, Callable[[Path, bool], List[str]]]:
    """How to run our check: the CLI when it works, else the scan_wheel stand-in."""
    cli = py.parent / "nolibpython"
    probe = subprocess.run([str(cli), "check", "--help"], capture_output=True, text=True) if cli.exists() else None
    if probe is not None and probe.returncode == 0 and "--check-symbols" in probe.stdout:
        def argv(wheel: Path, symbols: bool) -> List[str]:
            return [str(cli), "check", str(wheel)] + ([] if symbols else ["--check-symbols", "off"])

        return "nolibpython check", argv

    def fallback(wheel: Path, symbols: bool) -> List[str]:
        return [str(py), str(BENCH / "scanwheel.py"), str(wheel)]

    return "scan_wheel script (CLI not available)", fallback


def symbols_available() -> bool:
    return (REPO / "setuptools_nolibpython" / "symbols.py").exists()


def elf_members(wheel: Path) -> Tuple[int, int]:
    """(ELF member count, unpacked size) by magic, the way every contestant finds them."""
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        total = sum(i.file_size for i in zf.infolist())
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with zf.open(info) as f:
                count += f.read(4) == b"\x7fELF"
    return count, total


def elf_files(tree: Path) -> List[str]:
    out: List[str] = []
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        out.append(p)
    return sorted(out)


def warm(paths: Sequence[Path]) -> None:
    """Read files once so every contestant starts from the same (hot) page cache."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(16 * 1024 * 1024):
                pass


def bench_wheel(py: str, name: str, wheel: Path, workdir: Path, runs: Optional[int], aw_runs: Optional[int],
                check_argv: Callable[[Path, bool], List[str]], with_symbols: bool) -> WheelRow:
    """All contestants on one wheel, ``runs`` rounds, each round every contestant once."""
    count, unpacked = elf_members(wheel)
    size = wheel.stat().st_size
    n = runs or (3 if size > BIG_WHEEL else 5)
    row = WheelRow(name, wheel, size, unpacked, count, n)
    tree = workdir / name
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tree)
    elves = elf_files(tree)
    listfile = workdir / f"{name}.elf-files"
    listfile.write_text("".join(p + "\n" for p in elves))
    warm([wheel] + [Path(p) for p in elves])
    contestants: Dict[str, Tuple[List[str], Sequence[int]]] = {
        "check": (check_argv(wheel, False), (0, 1)),
        "floor": ([py, str(BENCH / "floor.py"), str(wheel)], (0,)),
        "readelf": (["readelf", "-d", *elves], (0,)),
        "tree": ([py, str(BENCH / "treescan.py"), str(tree)], (0,)),
        "tree_files": ([py, str(BENCH / "treescan.py"), str(tree), str(listfile)], (0,)),
        "auditwheel": ([str(BIN / "auditwheel"), "show", str(wheel)], (0, 1)),
    }
    if with_symbols:
        contestants["check_symbols"] = (check_argv(wheel, True), (0, 1))
    for i in range(n):
        for key, (argv, ok) in contestants.items():
            if key == "auditwheel" and i >= (n if aw_runs is None else aw_runs):
                continue
            row.times.setdefault(key, []).append(run_timed(argv, ok_codes=ok))
        print(f"  {name}: round {i + 1}/{n} done", file=sys.stderr)
    shutil.rmtree(tree, ignore_errors=True)
    return row


def fmt(x: float, digits: int = 2) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"


def wheel_table(rows: Sequence[WheelRow], with_symbols: bool) -> List[str]:
    head = ["wheel", "MB zipped (unpacked)", "ELF files", "runs", "check s", "floor s", "check/floor",
            "auditwheel show s", "auditwheel/check", "check peak RSS MiB", "floor peak RSS MiB"]
    if with_symbols:
        head += ["check+symbols s", "peak RSS MiB"]
    head += ["tree scan s", "same files s", "readelf -d s", "tree/readelf", "same files/readelf"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.name, f"{r.size / 1e6:.1f} ({r.unpacked / 1e6:.0f})", str(r.elf_count), str(r.runs),
                 fmt(r.t("check")), fmt(r.t("floor")), fmt(r.t("check") / r.t("floor")),
                 fmt(r.t("auditwheel"), 1), fmt(r.t("auditwheel") / r.t("check"), 0), fmt(r.rss("check"), 0),
                 fmt(r.rss("floor"), 0)]
        if with_symbols:
            cells += [fmt(r.t("check_symbols")), fmt(r.rss("check_symbols"), 0)]
        cells += [fmt(r.t("tree"), 3), fmt(r.t("tree_files"), 3), fmt(r.t("readelf"), 3),
                  fmt(r.t("tree") / r.t("readelf")), fmt(r.t("tree_files") / r.t("readelf"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def cpu_table(rows: Sequence[WheelRow]) -> List[str]:
    """The same medians in CPU time (user + system of the process), which other work on
    the machine disturbs much less than wall time."""
    head = ["wheel", "check", "floor", "check/floor", "auditwheel show", "auditwheel/check", "tree scan",
            "same files", "readelf -d", "tree/readelf", "same files/readelf"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.name, fmt(r.cpu("check")), fmt(r.cpu("floor")), fmt(r.cpu("check") / r.cpu("floor")),
                 fmt(r.cpu("auditwheel"), 1), fmt(r.cpu("auditwheel") / r.cpu("check"), 0),
                 fmt(r.cpu("tree"), 3), fmt(r.cpu("tree_files"), 3), fmt(r.cpu("readelf"), 3),
                 fmt(r.cpu("tree") / r.cpu("readelf")), fmt(r.cpu("tree_files") / r.cpu("readelf"))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(rows: Sequence[WheelRow], over: Sequence[overhead.Result],
                 scaled: Optional[parallel.Result], jobs: int) -> Tuple[List[str], bool]:
    """One line per target: held or NOT held, with the figures that decide it."""
    out: List[str] = []
    ok_all = True

    def say(ok: bool, text: str) -> None:
        nonlocal ok_all
        ok_all &= ok
        out.append(f"- {'held' if ok else '**NOT held**'}: {text}")

    worst = max(rows, key=lambda r: r.t("check") / r.t("floor"))
    say(all(r.t("check") / r.t("floor") <= FLOOR_RATIO_MAX for r in rows),
        f"check within {FLOOR_RATIO_MAX}x of the inflate-only floor on every wheel "
        f"(worst: {worst.name}, {worst.t('check') / worst.t('floor'):.2f}x)")
    for r in rows:
        if r.name in AUDITWHEEL_TARGET_WHEELS:
            ratio = r.t("auditwheel") / r.t("check")
            say(ratio >= AUDITWHEEL_RATIO_MIN,
                f"check >= {AUDITWHEEL_RATIO_MIN:.0f}x faster than auditwheel show on {r.name} ({ratio:.0f}x)")
    missing = [w for w in AUDITWHEEL_TARGET_WHEELS if w not in {r.name for r in rows}]
    if missing:
        out.append(f"- not measured (wheel absent here): auditwheel ratio on {', '.join(missing)}")
    torch = next((r for r in rows if r.name == "torch"), None)
    if torch is not None:
        say(torch.rss("check") <= RSS_MAX_MB,
            f"peak RSS of check <= {RSS_MAX_MB:.0f} MiB on torch ({torch.rss('check'):.0f} MiB)")
    else:
        out.append("- not measured (torch wheel absent here): peak RSS on torch")
    worst = max(rows, key=lambda r: r.t("tree_files") / r.t("readelf"))
    say(all(r.t("tree_files") / r.t("readelf") <= TREE_RATIO_MAX for r in rows),
        f"scan within {TREE_RATIO_MAX}x of readelf -d over the same files on every wheel "
        f"(worst: {worst.name}, {worst.t('tree_files') / worst.t('readelf'):.2f}x)")
    worst = max(rows, key=lambda r: r.t("tree") / r.t("readelf"))
    say(all(r.t("tree") / r.t("readelf") <= TREE_RATIO_MAX for r in rows),
        f"tree scan (walking the whole unpacked wheel, finding ELF files by magic) within "
        f"{TREE_RATIO_MAX}x of readelf -d over the ELF files alone on every wheel "
        f"(worst: {worst.name}, {worst.t('tree') / worst.t('readelf'):.2f}x)")
    for o in over:
        if o.project == "sample_project":
            say(o.fixed_pct <= OVERHEAD_MAX_PCT,
                f"plugin fixed cost on pip wheel --no-build-isolation sample_project <= {OVERHEAD_MAX_PCT:.0f}% "
                f"({o.fixed_ms:+.0f} ms, {o.fixed_pct:+.1f}% CPU, best of {o.pairs} runs per side)")
    if scaled is not None:
        say(scaled.speedup >= PARALLEL_MIN_SPEEDUP,
            f"check -j {jobs} >= {PARALLEL_MIN_SPEEDUP}x faster than -j 1 on {scaled.wheels} wheels "
            f"({scaled.speedup:.2f}x, {os.cpu_count()} CPUs)")
    return out, ok_all


STARTUP_RUNS = 11


START_READELF = "readelf -d of one small .so"
START_PYTHON = "python -c pass"
START_ZIPFILE = "python: import zipfile (the floor's only import)"
START_CLI = "python: import the CLI (check)"


def startup_lines(py: Path) -> Tuple[List[str], Dict[str, float]]:
    """What a fresh process costs before any work: the bound on small inputs."""
    small_elf = BENCH_SMALL_ELF if BENCH_SMALL_ELF.exists() else Path(sys.executable).resolve()
    probes = {
        START_READELF: ["readelf", "-d", str(small_elf)],
        START_PYTHON: [str(py), "-c", "pass"],
        START_ZIPFILE: [str(py), "-c", "import zipfile"],
        "python: import the tree scanner (scan)": [str(py), "-c", "import setuptools_nolibpython.scan"],
        START_CLI: [str(py), "-c", "import setuptools_nolibpython.cli"],
    }
    lines = [f"Medians of {STARTUP_RUNS} fresh processes doing nothing else:", "",
             "| process | wall s | CPU s |", "|---|---|---|"]
    cpu: Dict[str, float] = {}
    for label, argv in probes.items():
        samples = [run_timed(argv) for _ in range(STARTUP_RUNS)]
        cpu[label] = median([x.cpu_seconds for x in samples])
        lines.append(f"| {label} | {median([x.seconds for x in samples]):.3f} | {cpu[label]:.3f} |")
    return lines, cpu


def environment_lines(check_label: str) -> List[str]:
    load = os.getloadavg()
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return [
        f"- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} x {cpu}, "
        f"{platform.platform()}, Python {platform.python_version()}",
        f"- load average at the end of the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(other work on the machine inflates every column alike: contestants run interleaved)",
        f"- our check ran as: {check_label}, from a regular (non-editable) install in {BENCH_VENV.relative_to(REPO)}",
    ]


README = REPO / "README.md"
README_BEGIN = "<!-- make bench: begin (generated by benchmarks/run.py; do not edit) -->"
README_END = "<!-- make bench: end -->"


def readme_summary(rows: Sequence[WheelRow], versus: Sequence[Tuple[str, int, float, float]],
                   over: Sequence[overhead.Result] = (), wrapped: Sequence[overhead.Result] = (),
                   scaled: Optional[parallel.Result] = None, jobs: int = 2) -> List[str]:
    """The README's performance sentences, from this run's figures (never typed by hand)."""
    out: List[str] = []
    for o in over:
        out.append(f"On a `pip wheel` of {o.project} the plugin's fixed cost was {o.fixed_ms:.0f} ms of CPU time "
                   f"({o.fixed_pct:+.1f}%, best of {o.pairs} runs each way).")
    for w in wrapped:
        out.append(f"The wrapper backend added {w.fixed_ms:.0f} ms ({w.fixed_pct:+.1f}%) to a {w.project} build.")
    if scaled is not None:
        out.append(f"`check -j {jobs}` checked {scaled.wheels} real wheels {scaled.speedup:.1f}x faster than "
                   "`-j 1`, with the same output.")
    big = max(rows, key=lambda r: r.size)
    if big.times.get("auditwheel"):
        out.append(
            f"On the {big.name} wheel ({big.size / 1e6:.0f} MB, {big.elf_count} ELF files) `nolibpython check` took "
            f"{big.t('check'):.2f} s and {big.rss('check'):.0f} MiB peak RSS, against {big.t('floor'):.2f} s for "
            f"merely inflating the ELF members, and was {big.t('auditwheel') / big.t('check'):.0f}x faster than "
            "`auditwheel show`."
        )
    ratios = {what: (theirs / ours if ours > 0 else 0.0) for what, _n, ours, theirs in versus}
    if "headers" in ratios and "dynamic symbols" in ratios:
        files = next(n for what, n, _o, _t in versus if what == "headers")
        out.append(
            f"On {files} ELF files read from memory, the package's struct reader was {ratios['headers']:.0f}x faster "
            f"than pyelftools on headers and the dynamic section, and {ratios['dynamic symbols']:.0f}x faster on "
            "dynamic symbols."
        )
    return out or ["(no figures: this `make bench` run measured neither the big wheel nor the reader)"]


def update_readme(sentences: Sequence[str]) -> None:
    """Replace the block between README's bench markers, atomically; absent markers: leave it."""
    text = README.read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        print(f"note: {README} has no bench markers; not updated", file=sys.stderr)
        return
    body = "\n".join(textwrap.wrap(" ".join(sentences), width=90))
    new = text[: start + len(README_BEGIN)] + "\n" + body + "\n" + text[end:]
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(new)
    os.replace(tmp, README)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated wheel names (numpy,scipy,...,torch)")
    ap.add_argument("--runs", type=int, default=None, help="runs per contestant (default 5, 3 for big wheels)")
    ap.add_argument("--auditwheel-runs", type=int, default=None, help="runs of auditwheel show (default: --runs)")
    ap.add_argument("--skip-auditwheel", action="store_true", help="same as --auditwheel-runs 0")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-wrapper", action="store_true", help="no scikit-build-core wrapper section")
    ap.add_argument("--skip-parallel", action="store_true", help="no check -j section")
    ap.add_argument("--jobs", type=int, default=2, help="-j of the parallel section (default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="a reduced run to try the bench code (lxml and pillow, 2 runs, 2 pairs, 20 wheels "
                    "for -j, no auditwheel, no scaling, no reader); its figures are not for the docs and "
                    "it writes nowhere unless --output is given")
    ap.add_argument("--skip-reader", action="store_true", help="no struct reader vs pyelftools section")
    ap.add_argument("--output", default=str(OUTPUT), help="where to write the report ('-': nowhere)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is not held")
    args = ap.parse_args(argv)
    pairs = overhead.PAIRS
    if args.quick:
        args.only = args.only or "lxml,pillow"
        args.runs = args.runs or 2
        args.skip_auditwheel = args.skip_scaling = args.skip_reader = True
        pairs = 2
        if args.output == str(OUTPUT):
            args.output = "-"
    only = [w for w in args.only.split(",") if w]
    if args.skip_auditwheel:
        args.auditwheel_runs = 0
    py = bench_venv()
    check_label, check_argv = check_command(py)
    with_symbols = symbols_available() and check_label == "nolibpython check"
    rows: List[WheelRow] = []
    scale: List[str] = []
    versus: List[str] = []
    versus_rows: List[Tuple[str, int, float, float]] = []
    startup, startup_cpu = startup_lines(py)
    over: List[overhead.Result] = []
    imports: List[overhead.ImportRow] = []
    wrapped: List[overhead.Result] = []
    scaled: Optional[parallel.Result] = None
    scaled_mb = 0.0
    par_runs = 2 if args.quick else parallel.RUNS
    try:
        with tempfile.TemporaryDirectory(prefix="nolibpython-bench-") as tmp:
            work = Path(tmp)
            wheels = corpus(only)
            for name, wheel in wheels:
                print(f"benchmarking {name} ({wheel.name})", file=sys.stderr)
                rows.append(bench_wheel(str(py), name, wheel, work, args.runs, args.auditwheel_runs, check_argv,
                                        with_symbols))
            if not args.skip_scaling:
                print("scaling lines", file=sys.stderr)
                scale = scaling.lines(work / "scaling", str(py), BENCH / "treescan.py", check_argv)
            small = [wheel for name, wheel in wheels if name != "torch"]  # every member is held in memory
            if not args.skip_reader and small:
                print("struct reader vs pyelftools", file=sys.stderr)
                versus_rows = reader.measure(small)
                versus = reader.table(small, versus_rows)
            if not args.skip_overhead:
                print("plugin overhead on pip wheel", file=sys.stderr)
                pure = overhead.write_pure_project(work / "pure-src")
                over = [overhead.measure(work / "overhead", str(py), REPO / "sample_project", "sample_project",
                                         pairs),
                        overhead.measure(work / "overhead-pure", str(py), pure, "pure Python (links nothing)",
                                         pairs, control=False)]
                imports = overhead.importtime(work / "importtime", str(py), REPO / "sample_project")
            if not args.skip_wrapper:
                print("wrapper overhead on scikit-build-core", file=sys.stderr)
                wrapped = wrapper.measure(work / "wrapper", str(py), pairs)
            if not args.skip_parallel:
                print(f"check -j 1 against -j {args.jobs}", file=sys.stderr)
                many = parallel.wheels(REPO, [w for n, w in corpus(()) if n != "torch"])
                scaled_mb = sum(p.stat().st_size for p in many) / 2**20

                def check_many(paths: Sequence[Path], jobs: int) -> List[str]:
                    return [str(py.parent / "nolibpython"), "check", "-j", str(jobs), *map(str, paths)]

                scaled = parallel.measure(many, check_many, args.jobs, par_runs)
    except CommandFailedError as exc:
        print(f"benchmark aborted: a measured command failed: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("no corpus wheel could be benchmarked", file=sys.stderr)
        return 2
    targets, ok = target_lines(rows, over, scaled, args.jobs)
    imports_cli = startup_cpu[START_CLI] - startup_cpu[START_ZIPFILE]
    start_ratio = startup_cpu[START_PYTHON] / max(startup_cpu[START_READELF], 1e-6)
    floor_held = all(r.t("check") / r.t("floor") <= FLOOR_RATIO_MAX for r in rows)
    tree_held = all(r.t("tree") / r.t("readelf") <= TREE_RATIO_MAX for r in rows)
    bounds = [
        f"- check vs floor on the small wheels: the work after start-up is the floor's (see the CPU table: "
        f"on big wheels check <= floor), but check imports {imports_cli * 1000:.0f} ms (CPU) more modules "
        "than the floor (dataclasses, typing, hashlib/csv for RECORD, argparse), which a 0.1 s floor cannot "
        "absorb at 1.5x; on wheels that unpack to <= 16 MiB (lxml) every member is also inflated and "
        "hashed against RECORD (wheelsafety.FULL_VERIFY_LIMIT), which the floor never does.",
        f"- tree scan vs readelf -d: starting the Python interpreter alone costs {start_ratio:.0f}x the CPU of a "
        "whole readelf run on a small file, before any import; readelf is also handed the list of ELF files "
        "while the tree scan finds them by opening every file (12,000 in torch). In the build, the scan runs "
        "inside the setuptools process that has already paid for start-up and imports.",
    ]
    sample = next((o for o in over if o.project == "sample_project"), None)
    over_held = sample is None or sample.fixed_pct <= OVERHEAD_MAX_PCT
    build_imports = sum(r.self_us for r in imports if r.process.startswith("Building wheel")) / 1000
    bounds.append(
        f"- plugin fixed cost: the build process imports {build_imports:.0f} ms of the package's modules (see "
        "the import table; the ELF reader, the policy and the symbol check are needed once a module is linked), "
        "and the symbol check resolves the module against the interpreter's own symbols; the metadata process "
        "imports only the config and the mixins."
    )
    par_held = scaled is None or scaled.speedup >= PARALLEL_MIN_SPEEDUP
    bounds.append(
        f"- check -j: every worker pays its own share of process start, and the output waits for the slowest "
        f"wheel; with {os.cpu_count()} CPUs and other jobs on the machine (load average "
        f"{os.getloadavg()[0]:.1f}) the second process does not get a whole core."
    )
    bounds = [b for b, held in zip(bounds, (floor_held, tree_held, over_held, par_held)) if not held]
    if bounds:
        targets += ["", "What bounds the targets not held:", "", *bounds]
    report = [
        "# Performance",
        "",
        "Generated by `make bench` (benchmarks/run.py); do not edit by hand. Every figure below comes",
        "from the one run that wrote this file. Times are medians of fresh processes (process start",
        "and imports included on every side), in seconds; peak RSS is the largest of the runs.",
        "Sizes of files are in MB (10^6 bytes), memory in MiB (2^20 bytes).",
        "",
        *environment_lines(check_label),
        "",
        "## Wheels",
        "",
        "check: `nolibpython check WHEEL --check-symbols off`; floor: a Python process that only",
        "inflates the wheel's ELF members and discards the bytes; readelf -d: one process over the",
        "ELF files of the unpacked wheel; tree scan: the in-build path (scan_tree) over the unpacked",
        "wheel, walking every file and finding ELF files by magic; same files: that scan given",
        "exactly the files readelf gets. Ratios: check/floor and tree/readelf should be small,",
        "auditwheel/check large.",
        "",
        *wheel_table(rows, with_symbols),
        "",
        "CPU seconds (user + system) of the same runs:",
        "",
        *cpu_table(rows),
        "",
        "## Targets",
        "",
        *targets,
        "",
        "## Start-up",
        "",
        *startup,
        "",
    ]
    if scale:
        report += ["## Scaling", "", *scale, ""]
    if versus:
        report += ["## ELF reader against pyelftools", "", *versus, ""]
    if over:
        report += ["## Plugin overhead on a real build", "", *overhead.table(over), ""]
    if imports:
        report += ["### Import time of the build path", "", *overhead.import_table(imports), ""]
    if wrapped:
        report += ["## Wrapper backend on a real scikit-build-core build", "", *wrapper.table(wrapped), ""]
    if scaled is not None:
        report += [f"## check -j {args.jobs}", "", *parallel.lines(scaled, scaled_mb, par_runs), ""]
    text = "\n".join(report)
    print(text)
    if args.output != "-":
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(".md.tmp")
        tmp_out.write_text(text)
        os.replace(tmp_out, out)
        print(f"\nwritten to {out}", file=sys.stderr)
        if out.resolve() == OUTPUT.resolve():
            update_readme(readme_summary(rows, versus_rows, over, wrapped, scaled, args.jobs))
    return 1 if args.strict and not ok else 0
