"""[tool.setuptools-nolibpython] parsing, the environment override, the backend's force,
and where the rule holds (hostplatform)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from setuptools_nolibpython.config import (
    ENV_VAR,
    Config,
    ConfigError,
    env_override,
    load_config,
    parse_table,
    read_pyproject_table,
)
from setuptools_nolibpython.hostplatform import unsupported_reason


def _project(tmp_path: Path, table: Optional[str]) -> Path:
    text = '[project]\nname = "x"\nversion = "1"\n'
    if table is not None:
        text += "\n[tool.setuptools-nolibpython]\n" + table
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def test_defaults_without_table(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, None), environ={})
    assert cfg == Config()
    assert cfg.enable is False


def test_no_pyproject_at_all(tmp_path: Path) -> None:
    assert read_pyproject_table(tmp_path / "pyproject.toml") is None
    assert load_config(tmp_path, environ={}).enable is False


def test_full_table(tmp_path: Path) -> None:
    cfg = load_config(
        _project(
            tmp_path,
            'enable = true\non-violation = "warn"\nstrip-rpath = false\n'
            'allow = ["pkg/embed*.so", "bin/*"]\ncheck-symbols = "off"\nbackend = "mesonpy"\n',
        ),
        environ={},
    )
    assert cfg == Config(True, "warn", False, ("pkg/embed*.so", "bin/*"), "off", backend="mesonpy")
    assert cfg.source.endswith("pyproject.toml")


def test_table_defaults_when_enabled(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, "enable = true\n"), environ={})
    assert (cfg.enable, cfg.on_violation, cfg.strip_rpath, cfg.allow) == (True, "error", True, ())


@pytest.mark.parametrize(
    ("table", "must_name", "hint"),
    [
        ({"enabled": True}, "'enabled'", None),
        ({"on_violation": "warn"}, "'on_violation'", 'did you mean "on-violation"?'),
        ({"strip_rpath": False}, "'strip_rpath'", 'did you mean "strip-rpath"?'),
        ({"check_symbols": "off"}, "'check_symbols'", 'did you mean "check-symbols"?'),
    ],
)
def test_unknown_key(table: Dict[str, Any], must_name: str, hint: Optional[str]) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_table(table, "/p/pyproject.toml")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("/p/pyproject.toml: unknown key " + must_name)
    assert "known keys: allow, backend, check-symbols, enable, on-violation, strict, strip-rpath" in msg
    if hint:
        assert hint in msg
    else:
        assert "did you mean" not in msg


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"enable": "yes"}, "enable"),
        ({"enable": 1}, "enable"),
        ({"strip-rpath": "false"}, "strip-rpath"),
        ({"on-violation": True}, "on-violation"),
        ({"on-violation": "ignore"}, "on-violation"),
        ({"check-symbols": "loud"}, "check-symbols"),
        ({"allow": "pkg/*.so"}, "allow"),
        ({"allow": ["ok", 3]}, "allow"),
    ],
)
def test_wrong_types(table: Dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_table(table, "pyproject.toml")
    msg = str(exc.value)
    assert "\n" not in msg
    assert f"[tool.setuptools-nolibpython] {key} must be" in msg
    assert repr(table[key]) in msg or repr(table[key][1]) in msg


@pytest.mark.parametrize("value", ["warn", "error", "repair"])
def test_on_violation_choices(value: str) -> None:
    assert parse_table({"on-violation": value}, "p").on_violation == value


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.setuptools-nolibpython\nenable = true\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path, environ={})
    assert str(tmp_path / "pyproject.toml") in str(exc.value)
    assert "cannot read" in str(exc.value)


def test_table_that_is_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nsetuptools-nolibpython = "on"\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(tmp_path, environ={})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), (" YES ", True), ("on", True),
     ("0", False), ("false", False), ("No", False), ("off", False),
     ("", None), ("   ", None)],
)
def test_env_values(raw: str, expected: Optional[bool]) -> None:
    assert env_override({ENV_VAR: raw}) is expected


def test_env_unset() -> None:
    assert env_override({}) is None


@pytest.mark.parametrize("raw", ["2", "maybe", "enable"])
def test_env_garbage(raw: str) -> None:
    with pytest.raises(ConfigError) as exc:
        env_override({ENV_VAR: raw})
    assert f"{ENV_VAR}={raw!r}" in str(exc.value)
    assert "use 1" in str(exc.value)


def test_env_value_error_lists_every_spelling() -> None:
    with pytest.raises(ConfigError) as exc:
        env_override({"SETUPTOOLS_NOLIBPYTHON": "maybe"})
    for word in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        assert f" {word}" in str(exc.value) or f"{word}," in str(exc.value), word
    assert os.linesep not in str(exc.value)


def test_env_forces_on_without_table(tmp_path: Path) -> None:
    proj = _project(tmp_path, None)
    assert load_config(proj, environ={ENV_VAR: "1"}).enable is True
    assert load_config(proj, environ={}).enable is False  # control


def test_env_forces_off_with_table(tmp_path: Path) -> None:
    proj = _project(tmp_path, 'enable = true\non-violation = "warn"\n')
    cfg = load_config(proj, environ={ENV_VAR: "0"})
    assert cfg.enable is False
    assert cfg.on_violation == "warn"  # the rest of the table still applies
    assert load_config(proj, environ={}).enable is True  # control


def test_backend_force(tmp_path: Path) -> None:
    proj = _project(tmp_path, None)
    assert load_config(proj, environ={}, force_enable=True).enable is True
    # an explicit enable = false in the table is overridden by choosing the backend
    assert load_config(_project(tmp_path, "enable = false\n"), environ={}, force_enable=True).enable is True
    # but the environment beats the backend
    assert load_config(proj, environ={ENV_VAR: "0"}, force_enable=True).enable is False


def test_table_errors_even_when_env_forces_off(tmp_path: Path) -> None:
    """A broken table is reported, not silently ignored, whatever the environment says."""
    proj = _project(tmp_path, "enabel = true\n")
    with pytest.raises(ConfigError, match="enabel"):
        load_config(proj, environ={ENV_VAR: "0"})


# ---------------------------------------------------------------- hostplatform

@pytest.mark.parametrize("plat", ["linux", "freebsd14", "netbsd10", "openbsd7", "dragonfly6", "sunos5", "gnu0"])
def test_elf_platforms(plat: str) -> None:
    assert unsupported_reason(plat) is None


@pytest.mark.parametrize(
    ("plat", "words"),
    [
        ("win32", "Windows requires"),
        ("cygwin", "Cygwin requires"),
        ("msys", "Cygwin requires"),
        ("android", "Android requires"),
        ("darwin", "macOS"),
        ("emscripten", "not a known ELF platform"),
        ("wasi", "not a known ELF platform"),
    ],
)
def test_non_elf_platforms(plat: str, words: str) -> None:
    reason = unsupported_reason(plat)
    assert reason is not None and words in reason


def test_this_machine() -> None:
    import sys

    assert sys.platform == "linux"
    assert unsupported_reason() is None
