"""Timing one command as a fresh process: wall time, CPU time and peak RSS.

Every contestant is a subprocess, so process start and imports count on every side.
Peak RSS is measured by GNU time (``/usr/bin/time -f %M``) around the command: Linux
carries the forking process's peak RSS into a child across exec, so ``wait4`` on a
child of this (large) Python process would report at least our own peak. Wall and CPU
time come from our own clock and ``wait4`` (which includes the children time reaped).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence


class CommandFailedError(Exception):
    """A measured command failed or crashed: its time would be meaningless."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    cpu_seconds: float  # user + system: less sensitive than wall time to other load
    peak_rss_mb: float
    returncode: int


def run_timed(
    argv: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
    ok_codes: Sequence[int] = (0,),
) -> Sample:
    """Run ``argv`` once; stdout is discarded, stderr kept to explain a failure."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    with tempfile.NamedTemporaryFile("r", prefix="bench-rss-") as rss_file:
        wrapper = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name] if _HAVE_GNU_TIME else []
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapper + list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env, cwd=cwd
        )
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stderr.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        rss_lines = rss_file.read().split()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code not in ok_codes or b"Traceback (most recent call last)" in err:
        raise CommandFailedError(f"{' '.join(argv)} exited {code}:\n{err[-3000:].decode(errors='replace')}")
    if _HAVE_GNU_TIME and rss_lines and rss_lines[-1].isdigit():
        rss_mb = int(rss_lines[-1]) / 1024
    else:
        rss_mb = float("nan")  # no trustworthy figure (see module docstring)
    return Sample(seconds, usage.ru_utime + usage.ru_stime, rss_mb, code)


def _gnu_time() -> bool:
    if not os.path.exists("/usr/bin/time"):
        return False
    probe = subprocess.run(["/usr/bin/time", "--version"], capture_output=True)
    return b"GNU" in probe.stdout + probe.stderr


_HAVE_GNU_TIME = _gnu_time()


def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")
