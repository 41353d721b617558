"""The fuzz harness (fuzz/fuzz_check.py) runs clean for a short while: the smoke run of
what `make fuzz` runs for longer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from support import run


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
