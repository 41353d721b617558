"""scripts/mutate.py's list stays applicable: every anchor is in the package exactly once
and every test it names exists (the mutation run itself is `make mutate`)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import REPO


def _mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", REPO / "scripts" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


MUTATE = _mutate()


@pytest.mark.parametrize("mutant", MUTATE.MUTANTS, ids=lambda m: m.id)
def test_anchor_once_and_tests_exist(mutant: Any, tmp_path: Path) -> None:
    source = REPO / MUTATE.PKG / mutant.file
    assert source.read_text().count(mutant.old) == 1, f"{mutant.id}: update its anchor in scripts/mutate.py"
    copy = tmp_path / mutant.file
    copy.write_text(source.read_text())
    assert MUTATE.apply(copy, mutant) is None
    assert copy.read_text() != source.read_text() and mutant.new in copy.read_text()
    for node in mutant.tests:
        path, _, name = node.partition("::")
        assert (REPO / path).is_file(), node
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", (REPO / path).read_text(), re.M), node


def test_missing_anchor_is_an_error_not_a_skip(tmp_path: Path) -> None:
    target = tmp_path / "policy.py"
    target.write_text("nothing to see\n")
    bad = MUTATE.Mutant("x", "policy.py", "not in the file", "", ("tests/unit/test_libpython_names.py",), "")
    problem = MUTATE.apply(target, bad)
    assert problem is not None and "found 0 times" in problem
    assert target.read_text() == "nothing to see\n"
