"""Plugin activation: the ``setuptools.finalize_distribution_options`` entry point.

Runs inside ``Distribution.__init__`` (three times per pip build), before pyproject.toml
is applied, so it reads the table itself and stays cheap. When enabled it wraps the
instance's ``get_command_class``: every command lookup passes through it after all
config (setup.py, setup.cfg, ``[tool.setuptools] cmdclass``) is applied, so the project's
own build_ext gets the behaviour by subclassing, and nothing is touched when disabled.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from .config import Config, load_config
from .errors import ConfigError
from .hostplatform import unsupported_reason

log = logging.getLogger("setuptools_nolibpython")

_force_enable = False
_said_platform = False
_said_backend = False
_said_disabled = False
_subclasses: Dict[Tuple[type, type], type] = {}


def force_enable() -> None:
    """Turn the plugin on for this process (``setuptools_nolibpython.build_meta``)."""
    global _force_enable
    _force_enable = True


def effective_config(project_dir: Path, explicit: bool = False) -> Config:
    """The config of the project in ``project_dir``; ``explicit``: the build_ext class opts in."""
    config = load_config(project_dir, force_enable=_force_enable or explicit)
    announce_disabled(config)
    return config


def announce_disabled(config: Config) -> None:
    """One warning per process when the environment switched off a plugin the project asked for."""
    global _said_disabled
    if config.disabled_by and not _said_disabled:
        log.warning("setuptools-nolibpython: %s", config.disabled_by)
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


def platform_allows() -> bool:
    """False (and say why, once per process) where the rule does not hold."""
    global _said_platform
    reason = unsupported_reason()
    if reason is None:
        return True
    if not _said_platform:
        log.info("setuptools-nolibpython: changing nothing: %s", reason)
        _said_platform = True
    return False


def _note_backend(config: Config) -> None:
    """``backend`` belongs to ``setuptools_nolibpython.wrap``; a setuptools build ignores it, and says so."""
    global _said_backend
    if config.backend and not _said_backend and "setuptools_nolibpython.wrap" not in sys.modules:
        log.warning(
            "setuptools-nolibpython: %s: backend = %r is read only by "
            'build-backend = "setuptools_nolibpython.wrap"; this setuptools build ignores it',
            config.source, config.backend,
        )
        _said_backend = True


def with_mixin(cls: type, mixin: type) -> type:
    """``cls`` with ``mixin`` in front; cached so repeated lookups give one class."""
    if issubclass(cls, mixin):
        return cls
    key = (mixin, cls)
    if key not in _subclasses:
        _subclasses[key] = type(cls.__name__, (mixin, cls), {"__module__": cls.__module__})
    return _subclasses[key]


def finalize_distribution_options(dist: Any) -> None:
    """Entry point: read the config; when enabled, route build_ext and bdist_wheel."""
    try:
        config = effective_config(project_dir(dist))
    except ConfigError as exc:
        from setuptools.errors import SetupError

        raise SetupError(f"setuptools-nolibpython: {exc}") from None
    _note_backend(config)
    if not config.enable or not platform_allows():
        return
    dist._nolibpython_config = config
    dist._nolibpython_wheel_check = True
    original: Callable[[str], type] = dist.get_command_class

    def get_command_class(command: str) -> type:
        cls = original(command)
        # .commands is imported only when a build command is looked up: it imports
        # setuptools' build_ext (and Cython's, when installed), 0.1-0.2 s that pip's
        # metadata processes would otherwise pay for nothing (benchmarks/overhead.py).
        if command == "build_ext":
            from .commands import BuildExtMixin

            return with_mixin(cls, BuildExtMixin)
        if command == "bdist_wheel":
            from .commands import BdistWheelMixin

            return with_mixin(cls, BdistWheelMixin)
        return cls

    dist.get_command_class = get_command_class


finalize_distribution_options.order = 100  # type: ignore[attr-defined]
