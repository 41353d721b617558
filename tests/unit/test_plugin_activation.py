"""The entry point itself, on real setuptools Distribution objects: it wraps nothing
unless enabled, routes build_ext/bdist_wheel (keeping the project's class in the
chain) when enabled, and stands aside, saying so once, where the rule does not hold.
(sys.platform is the one thing patched: no other platform can be made on this machine.)"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from setuptools.command.build_ext import build_ext as setuptools_build_ext
from setuptools.dist import Distribution

from setuptools_nolibpython import activation, hostplatform
from setuptools_nolibpython.commands import BdistWheelMixin, BuildExtMixin


def _dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str) -> Distribution:
    (tmp_path / "pyproject.toml").write_text(f"[tool.setuptools-nolibpython]\n{table}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SETUPTOOLS_NOLIBPYTHON", raising=False)
    return Distribution({"name": "x", "version": "1"})  # runs the real entry point


class ProjectBuildExt(setuptools_build_ext):
    pass


def test_enabled_routes_build_ext(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = _dist(tmp_path, monkeypatch, "enable = true\n")
    assert "get_command_class" in vars(dist)
    cls = dist.get_command_class("build_ext")
    assert issubclass(cls, BuildExtMixin) and issubclass(cls, setuptools_build_ext)
    dist.cmdclass["build_ext"] = ProjectBuildExt  # what [tool.setuptools] cmdclass does later
    mine = dist.get_command_class("build_ext")
    assert mine.__mro__[:3] == (mine, BuildExtMixin, ProjectBuildExt)
    assert dist.get_command_class("build_ext") is mine  # one class per lookup pair
    assert issubclass(dist.get_command_class("bdist_wheel"), BdistWheelMixin)
    assert not issubclass(dist.get_command_class("build_py"), BuildExtMixin)


def test_disabled_wraps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = _dist(tmp_path, monkeypatch, "enable = false\n")
    assert "get_command_class" not in vars(dist)
    assert not hasattr(dist, "_nolibpython_config")
    assert not issubclass(dist.get_command_class("build_ext"), BuildExtMixin)


@pytest.mark.parametrize("plat", ["win32", "darwin", "cygwin"])
def test_other_platforms_stand_aside_once(plat: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    dist = _dist(tmp_path, monkeypatch, "enable = true\n")  # made on Linux: wrapped (control)
    assert "get_command_class" in vars(dist)
    monkeypatch.setattr(hostplatform, "_said_platform", False)
    monkeypatch.setattr(sys, "platform", plat)
    caplog.set_level(logging.INFO, logger="setuptools_nolibpython")
    plain = Distribution({"name": "x", "version": "1"})  # the entry point runs here ...
    activation.finalize_distribution_options(plain)  # ... and again: still said once
    monkeypatch.setattr(sys, "platform", "linux")
    assert "get_command_class" not in vars(plain)
    said = [r.getMessage() for r in caplog.records if "changing nothing" in r.getMessage()]
    assert len(said) == 1, said
    assert "requires" in said[0] or "macOS" in said[0]
