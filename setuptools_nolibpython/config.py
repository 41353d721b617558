"""``[tool.setuptools-nolibpython]``: read, validate, and decide whether the plugin is on.

Also where a build finds its project (project_dir) and the process-wide switch that
``setuptools_nolibpython.build_meta`` and the wrapper turn on (force_enable).

Validation is strict (unknown keys and wrong types are errors naming the key) but only
when the table exists: a project that does not use the plugin never sees an error.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import ConfigError
from .logs import get_logger

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = [
    "CHECK_SYMBOLS",
    "ENV_OFF",
    "ENV_ON",
    "ENV_VAR",
    "ON_VIOLATION",
    "TABLE",
    "Config",
    "effective_config",
    "env_override",
    "force_enable",
    "load_config",
    "parse_table",
    "project_dir",
    "read_pyproject_table",
]

TABLE = "setuptools-nolibpython"
ENV_VAR = "SETUPTOOLS_NOLIBPYTHON"

log = get_logger(__name__)

ON_VIOLATION = ("error", "warn", "repair")
#: PEP 517's build-backend syntax: ``module`` or ``module:object`` (dotted names, spaces around ":").
_BACKEND = re.compile(r"\s*[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\s*(:\s*[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\s*)?")
CHECK_SYMBOLS = ("error", "warn", "off")
#: The spellings ``SETUPTOOLS_NOLIBPYTHON`` accepts, case-insensitively.
ENV_ON = ("1", "true", "yes", "on")
ENV_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Config:
    """The validated settings; defaults are what a project gets with ``enable = true``."""

    enable: bool = False
    on_violation: str = "error"
    strip_rpath: bool = True
    allow: Tuple[str, ...] = ()
    check_symbols: str = "error"
    #: A DT_NEEDED that nothing in the wheel or on this machine provides is an error, not a
    #: warning (auditwheel-style completeness); by default such a library may come from the
    #: target system or from a package imported first.
    strict: bool = False
    #: The inner PEP 517 backend; read only by ``build-backend = "setuptools_nolibpython.wrap"``.
    backend: Optional[str] = None
    source: str = field(default="defaults", compare=False)
    #: Set when the environment switched off a plugin that the table or an explicit
    #: opt-in turned on: one line for the build log, so a stray CI variable is seen.
    disabled_by: str = field(default="", compare=False)


def _expect(value: Any, kind: type, key: str, where: str, what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(
            f"{where}: [tool.{TABLE}] {key} must be {what}, got {type(value).__name__} {value!r}"
        )
    return value


def _choice(value: Any, key: str, where: str, choices: Tuple[str, ...]) -> str:
    allowed = " or ".join(f'"{c}"' for c in choices)
    _expect(value, str, key, where, f"a string ({allowed})")
    if value not in choices:
        raise ConfigError(f"{where}: [tool.{TABLE}] {key} must be {allowed}, got {value!r}")
    return str(value)


def parse_table(table: Mapping[str, Any], where: str) -> Config:
    """Validate a ``[tool.setuptools-nolibpython]`` mapping into a Config."""
    known = {"enable", "on-violation", "strip-rpath", "allow", "check-symbols", "backend", "strict"}
    for key in table:
        if key not in known:
            hint = ""
            alt = key.replace("_", "-")
            if alt in known:
                hint = f' (did you mean "{alt}"?)'
            raise ConfigError(
                f"{where}: unknown key {key!r} in [tool.{TABLE}]{hint}; "
                f"known keys: {', '.join(sorted(known))}"
            )
    values: Dict[str, Any] = {}
    if "enable" in table:
        values["enable"] = _expect(table["enable"], bool, "enable", where, "true or false")
    if "on-violation" in table:
        values["on_violation"] = _choice(table["on-violation"], "on-violation", where, ON_VIOLATION)
    if "strict" in table:
        values["strict"] = _expect(table["strict"], bool, "strict", where, "true or false")
    if "strip-rpath" in table:
        values["strip_rpath"] = _expect(table["strip-rpath"], bool, "strip-rpath", where, "true or false")
    if "check-symbols" in table:
        values["check_symbols"] = _choice(table["check-symbols"], "check-symbols", where, CHECK_SYMBOLS)
    if "allow" in table:
        allow = _expect(table["allow"], list, "allow", where, "a list of glob strings")
        for item in allow:
            _expect(item, str, "allow", where, "a list of glob strings")
        values["allow"] = tuple(allow)
    if "backend" in table:
        what = 'a string naming a PEP 517 backend ("module" or "module:object")'
        backend = _expect(table["backend"], str, "backend", where, what)
        if not _BACKEND.fullmatch(backend):
            raise ConfigError(
                f'{where}: [tool.{TABLE}] backend must name a PEP 517 backend as "module" or "module:object" '
                f"(e.g. \"scikit_build_core.build\"), got {backend!r}"
            )
        values["backend"] = ":".join(part.strip() for part in backend.split(":"))
    return Config(source=where, **values)


def read_pyproject_table(path: Path) -> Optional[Mapping[str, Any]]:
    """The plugin's table from a pyproject.toml, or None when file or table is absent."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    tool = data.get("tool", {})
    if isinstance(tool, dict):
        _refuse_near_miss(tool, path)
    table = tool.get(TABLE) if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.{TABLE}] must be a table")
    return table


#: Names people write for the table, compared with "-" and "_" and case folded away.
_NEAR_MISSES = {"setuptoolsnolibpython", "nolibpython", "setuptoolsnolibpy", "nolibpy"}


def _refuse_near_miss(tool: Mapping[str, Any], path: Path) -> None:
    """A misspelled table is never silent: ``[tool.setuptools_nolibpython]``,
    ``[tool.nolibpython]`` or a case variant would otherwise build with the plugin off and
    ship the libpython link the project meant to keep out."""
    for key in tool:
        folded = str(key).lower().replace("-", "").replace("_", "").replace(".", "")
        if key != TABLE and folded in _NEAR_MISSES:
            raise ConfigError(
                f"{path}: [tool.{key}] is not read by setuptools-nolibpython; its table is spelled "
                f"[tool.{TABLE}]: rename it"
            )


def env_override(environ: Mapping[str, str]) -> Optional[bool]:
    """``SETUPTOOLS_NOLIBPYTHON=1|0`` forces the plugin on or off; unset means no say."""
    raw = environ.get(ENV_VAR)
    if raw is None or raw.strip() == "":
        return None
    val = raw.strip().lower()
    if val in ENV_ON:
        return True
    if val in ENV_OFF:
        return False
    raise ConfigError(
        f"environment: {ENV_VAR}={raw!r} is not understood; use {', '.join(ENV_ON)} (force on) "
        f"or {', '.join(ENV_OFF)} (force off), in any case, or unset it"
    )


def load_config(
    project_dir: Path,
    environ: Optional[Mapping[str, str]] = None,
    force_enable: bool = False,
) -> Config:
    """The effective config: environment beats an explicit opt-in, which beats the table."""
    env = os.environ if environ is None else environ
    pyproject = project_dir / "pyproject.toml"
    table = read_pyproject_table(pyproject)
    config = parse_table(table, str(pyproject)) if table is not None else Config()
    forced = env_override(env)
    enable = config.enable
    if force_enable:
        enable = True
    if forced is not None:
        if enable and not forced:
            why = "the explicit opt-in" if force_enable else f"enable = true in {pyproject}"
            config = dataclasses.replace(
                config, disabled_by=f"turned off by the environment: {ENV_VAR}={env.get(ENV_VAR)} overrides {why}"
            )
        enable = forced
    return dataclasses.replace(config, enable=enable) if enable != config.enable else config


_force_enable = False
_said_disabled = False


def force_enable() -> None:
    """Turn the plugin on for this process (``setuptools_nolibpython.build_meta``)."""
    global _force_enable
    _force_enable = True


def effective_config(project_dir: Path, explicit: bool = False) -> Config:
    """The config of the project in ``project_dir``; ``explicit``: the build_ext class opts in
    (it is asked from inside a build command)."""
    config = load_config(project_dir, force_enable=_force_enable or explicit)
    _announce_disabled(config, building=explicit or _runs_a_build())
    return config


#: setup.py commands that build or install: the process of a front-end's build that
#: makes the wheel (pip and build run egg_info and dist_info in processes of their own).
_BUILD_COMMANDS = frozenset({"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install", "bdist_egg"})


def _runs_a_build() -> bool:
    return any(arg in _BUILD_COMMANDS for arg in sys.argv[1:])


def _announce_disabled(config: Config, building: bool = True) -> None:
    """One warning per build when the environment switched off a plugin the project asked
    for: said by the process that builds, not by the metadata processes before it."""
    global _said_disabled
    if config.disabled_by and building and not _said_disabled:
        log.warning("%s", config.disabled_by)
        _said_disabled = True


def project_dir(dist: Any) -> Path:
    """The directory of the project being built, whose pyproject.toml holds its table.

    The distribution's ``src_root`` when given, else the directory of the setup script
    when one runs as the program (``python ../proj/setup.py build``), else the current
    directory (pip, build and uv run the backend there; setuptools' build_meta executes
    setup.py without making it ``sys.argv[0]``).
    """
    root = getattr(dist, "src_root", None)
    if isinstance(root, str) and root:
        return Path(root).resolve()
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "setup.py" and os.path.isfile(script):
        return Path(os.path.dirname(os.path.abspath(script)))
    return Path.cwd()
