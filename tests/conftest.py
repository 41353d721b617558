"""Session fixtures: the plugin as a freshly built local wheel, shared by every build."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support import REPO, run


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding setuptools-nolibpython built from this checkout (pip --find-links)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
        check=True)
    assert list(out.glob("setuptools_nolibpython-*.whl"))
    return out
