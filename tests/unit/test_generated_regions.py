"""The documents keep the markers their generators write between, once each, so
`make bench`, scripts/gen_messages.py and scripts/check_layers.py keep working after the
documents are reorganised; the bench writer is run on a copy of README to prove it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import REPO


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bench() -> ModuleType:
    sys.path.insert(0, str(REPO))
    try:
        import benchmarks.run as run
    finally:
        sys.path.remove(str(REPO))
    return run


def test_each_generator_finds_its_markers_once() -> None:
    messages, layers, bench = _script("gen_messages"), _script("check_layers"), _bench()
    expected = [
        (messages.CATALOGUE, messages.BEGIN, messages.END),
        (messages.README, messages.EXAMPLE_BEGIN, messages.EXAMPLE_END),
        (REPO / "CONTRIBUTING.md", layers.BEGIN, layers.END),
        (bench.README, bench.README_BEGIN, bench.README_END),
    ]
    for path, begin, end in expected:
        text = path.read_text()
        assert text.count(begin) == 1 and text.count(end) == 1, (path, begin)
        assert text.index(begin) < text.index(end), (path, begin)
    # The layer list lives in CONTRIBUTING.md only: README is for users.
    assert layers.BEGIN not in (REPO / "README.md").read_text()


def test_bench_writer_replaces_only_its_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    copy = tmp_path / "README.md"
    original = (REPO / "README.md").read_text()
    copy.write_text(original)
    monkeypatch.setattr(bench, "README", copy)
    bench.update_readme(["On the x wheel (1 MB) it took 1.00 s and 2 MiB peak RSS."])
    head, rest = original.split(bench.README_BEGIN, 1)
    tail = rest.split(bench.README_END, 1)[1]
    assert copy.read_text() == (head + bench.README_BEGIN + "\nOn the x wheel (1 MB) it took 1.00 s and 2 MiB peak "
                                "RSS.\n" + bench.README_END + tail)


def test_bench_sizes_state_their_unit() -> None:
    """The README sentence and the wheel table print a wheel's size in MB (10^6 bytes) and
    memory in MiB, the same figure in both (the torch wheel once read "192 MB" in README and
    "182.9" in the table: MB in one, MiB in the other, a unit in neither)."""
    bench = _bench()
    from benchmarks.measure import Sample

    def samples(seconds: float, rss: float) -> "list[Sample]":
        return [Sample(seconds, seconds, rss, 0)]

    row = bench.WheelRow("torch", Path("torch.whl"), size=191_800_000, unpacked=699_000_000, elf_count=136, runs=1,
                         times={"check": samples(2.0, 71.0), "floor": samples(1.9, 60.0),
                                "auditwheel": samples(42.0, 500.0), "tree": samples(1.0, 1.0),
                                "tree_files": samples(1.0, 1.0), "readelf": samples(0.5, 1.0)})
    sentence = " ".join(bench.readme_summary([row], []))
    assert "(192 MB, 136 ELF files)" in sentence and "71 MiB peak RSS" in sentence, sentence
    table = bench.wheel_table([row], with_symbols=False)
    assert "| wheel | MB zipped (unpacked) |" in table[0] and "check peak RSS MiB" in table[0], table[0]
    assert table[2].startswith("| torch | 191.8 (699) |"), table[2]
