"""Plugin activation: the ``setuptools.finalize_distribution_options`` entry point.

Runs inside ``Distribution.__init__`` (three times per pip build), before pyproject.toml
is applied, so it reads the table itself and stays cheap. When enabled it wraps the
instance's ``get_command_class``: every command lookup passes through it after all
config (setup.py, setup.cfg, ``[tool.setuptools] cmdclass``) is applied, so the project's
own build_ext gets the behaviour by subclassing, and nothing is touched when disabled.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from .config import Config, effective_config, project_dir
from .errors import ConfigError
from .hostplatform import platform_allows
from .logs import PREFIX, get_logger, show_on_stderr

__all__ = ["finalize_distribution_options"]

log = get_logger(__name__)

_said_backend = False


def _note_backend(config: Config) -> None:
    """``backend`` belongs to ``setuptools_nolibpython.wrap``; a setuptools build ignores it, and says so."""
    global _said_backend
    if config.backend and not _said_backend and "setuptools_nolibpython.wrap" not in sys.modules:
        log.warning(
            "%s: backend = %r is read only by "
            'build-backend = "setuptools_nolibpython.wrap"; this setuptools build ignores it',
            config.source, config.backend,
        )
        _said_backend = True


def finalize_distribution_options(dist: Any) -> None:
    """Entry point: read the config; when enabled, route build_ext and bdist_wheel."""
    # A setup.py calling distutils.core.setup (setuptools' shim) gets this hook but not the
    # logging setuptools.setup() configures first: show our lines all the same.
    show_on_stderr()
    try:
        config = effective_config(project_dir(dist))
    except ConfigError as exc:
        from setuptools.errors import SetupError

        raise SetupError(f"{PREFIX}{exc}") from None
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
            from .commands import BuildExtMixin, with_mixin

            return with_mixin(cls, BuildExtMixin)
        if command == "bdist_wheel":
            from .commands import BdistWheelMixin, with_mixin

            return with_mixin(cls, BdistWheelMixin)
        return cls

    dist.get_command_class = get_command_class


finalize_distribution_options.order = 100  # type: ignore[attr-defined]
