"""setuptools-nolibpython: extension modules that never link libpython.

The declared API is what ``__all__`` names, and nothing else (docs/api.md):

- ``check(paths, CheckSettings(...)) -> CheckResult``: what ``nolibpython check`` does,
  symbol check included; ``CheckResult.document()`` is its ``--json`` document;
- ``repair_wheel(wheel, outdir, ...) -> RepairResult``: what ``nolibpython repair`` does;
- the result types (``TargetResult``, ``ScanReport``, ``FileResult``, ``Problem``) and the
  finding catalogue (``Code``, ``Severity``);
- the errors (``NoLibpythonError`` and its kinds);
- ``build_ext``, the setuptools command; the backends are the modules
  ``setuptools_nolibpython.build_meta`` and ``setuptools_nolibpython.wrap``.

Every other module is internal and may change. Names load on first use, so that a build
that links nothing and the checker CLI pay for no import they do not use.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

__version__ = "0.2.0"

#: Each public name, and the module that defines it.
_HOMES: Dict[str, str] = {
    "check": "checking",
    "CheckSettings": "checking",
    "CheckResult": "checking",
    "TargetResult": "checking",
    "repair_wheel": "wheelrepair",
    "RepairResult": "wheelrepair",
    "ScanReport": "results",
    "FileResult": "results",
    "Problem": "findings",
    "Code": "findings",
    "Severity": "findings",
    "NoLibpythonError": "errors",
    "ConfigError": "errors",
    "ElfReadError": "errors",
    "RepairError": "errors",
    "SourceError": "errors",
    "UsageError": "errors",
    "ViolationError": "errors",
    "build_ext": "commands",
}

__all__ = ["__version__", *_HOMES]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'setuptools_nolibpython' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> Any:
    return sorted([*globals(), *_HOMES])
