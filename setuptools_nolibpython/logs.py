"""The package's log lines: one prefix, added here.

Every module logs through ``get_logger(__name__)``: a ``logging.getLogger(__name__)``
whose messages start with PREFIX, so a build log names the tool on each line. The
loggers are children of ROOT ("setuptools_nolibpython"), where the wrapper and the CLI
attach their handlers; records propagate there and on to setuptools' own handlers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, MutableMapping, Tuple

__all__ = ["PREFIX", "ROOT", "get_logger", "show_on_stderr"]

#: What starts every log line and every error message the package writes for people.
PREFIX = "setuptools-nolibpython: "
ROOT = "setuptools_nolibpython"

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class _Prefixed(_Adapter):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        return PREFIX + str(msg), kwargs


def get_logger(name: str) -> "logging.LoggerAdapter[logging.Logger]":
    """``logging.getLogger(name)``, its messages prefixed with PREFIX."""
    return _Prefixed(logging.getLogger(name), {})


def show_on_stderr() -> None:
    """Make the package's lines visible when nobody configured logging: other PEP 517
    backends, and setup.py files that call ``distutils.core.setup`` (only
    ``setuptools.setup()`` installs setuptools' handler). A no-op once any handler exists."""
    package = logging.getLogger(ROOT)  # every module's logger propagates to it
    if not package.handlers and not logging.getLogger().handlers:
        import sys

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        package.addHandler(handler)
        package.setLevel(logging.INFO)
        package.propagate = False
