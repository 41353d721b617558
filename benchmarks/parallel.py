"""``check -j``: many real wheels in one call, one process against several.

The wheels are real PyPI wheels: the corpus (tests/support) and the field trial's
(field/projects.toml, fetched into .cache/field/wheel), in the order listed, torch and
wheels over 60 MB left out (one of them alone would be most of the time and cannot be
split). One ``nolibpython check``
is given all of them (as a CI job after cibuildwheel would), at ``-j 1`` and ``-j N``,
alternating; wall time, median of the runs. Both runs must print the same --json
document, or the speed-up is not of the same work.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from .measure import CommandFailedError, Sample, median, run_timed

RUNS = 3
MIN_WHEELS = 20


def wheels(repo: Path, corpus: Sequence[Path], count: int = 24, max_mb: int = 60) -> List[Path]:
    """The corpus wheels and the field trial's binary wheels (downloaded once into
    .cache/field/wheel) in the order listed, up to ``count``, none over ``max_mb``:
    a cibuildwheel run's mix of sizes, not the smallest only."""
    sys.path.insert(0, str(repo))
    from field.common import load_projects
    from field.fetch import fetch_wheel

    _sdists, listed = load_projects()
    out = [p for p in corpus if p.stat().st_size <= max_mb * 2**20]
    for w in listed:
        if len(out) >= count:
            break
        if w.file.startswith("torch-") or "none-any" in w.file:
            continue
        try:
            path = Path(fetch_wheel(w, Path(sys.executable)))
        except Exception as exc:  # a wheel the index does not have: use the others
            print(f"note: field wheel {w.file} not available: {exc}", file=sys.stderr)
            continue
        if path.stat().st_size <= max_mb * 2**20 and path not in out:
            out.append(path)
    return out


@dataclass(frozen=True)
class Result:
    wheels: int
    jobs: int
    serial_s: float
    parallel_s: float
    serial_rss_mb: float  # the largest process of the run (GNU time: the peak of any one process)
    parallel_rss_mb: float

    @property
    def speedup(self) -> float:
        return self.serial_s / self.parallel_s


def measure(
    wheels: Sequence[Path], argv: Callable[[Sequence[Path], int], List[str]], jobs: int, runs: int = RUNS
) -> Result:
    """Medians at -j 1 and -j ``jobs``, and the peak RSS of any one process of each."""
    if len(wheels) < MIN_WHEELS:
        print(f"note: only {len(wheels)} wheels for the -j measurement (wanted {MIN_WHEELS})", file=sys.stderr)
    outputs = {}
    for j in (1, jobs):
        proc = subprocess.run([*argv(wheels, j), "--json"], capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise CommandFailedError(f"check -j {j} exited {proc.returncode}: {proc.stderr[-2000:]}")
        outputs[j] = proc.stdout
    if outputs[1] != outputs[jobs]:
        raise CommandFailedError(f"check -j {jobs} printed another --json document than -j 1")
    samples: Dict[int, List[Sample]] = {1: [], jobs: []}
    for i in range(runs):
        for j in ((1, jobs) if i % 2 == 0 else (jobs, 1)):
            samples[j].append(run_timed(argv(wheels, j), ok_codes=(0, 1)))
    return Result(
        len(wheels), jobs, median([s.seconds for s in samples[1]]), median([s.seconds for s in samples[jobs]]),
        max(s.peak_rss_mb for s in samples[1]), max(s.peak_rss_mb for s in samples[jobs]),
    )


def lines(r: Result, total_mb: float, runs: int) -> List[str]:
    return [
        f"One `nolibpython check` of {r.wheels} real wheels ({total_mb:.0f} MB; the corpus and the field trial's,",
        f"none over 60 MB), medians of {runs} alternating runs; the --json documents of both runs are identical.",
        "Peak RSS: the largest single process of the run (each worker checks one wheel at a time).",
        "",
        f"| wheels | -j 1 s | -j {r.jobs} s | speed-up | -j 1 peak RSS MB | -j {r.jobs} peak RSS MB per process |",
        "|---|---|---|---|---|---|",
        f"| {r.wheels} | {r.serial_s:.2f} | {r.parallel_s:.2f} | {r.speedup:.2f}x | {r.serial_rss_mb:.0f} | "
        f"{r.parallel_rss_mb:.0f} |",
    ]
