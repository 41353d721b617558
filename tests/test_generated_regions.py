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
