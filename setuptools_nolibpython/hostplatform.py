"""Where the no-libpython rule holds.

The rule is an ELF-platform rule (PEP 513 and successors): extension modules resolve
Python symbols from the process that loads them. Windows (``pythonXY.lib``), Cygwin and
Android (bpo-21536) *require* linking libpython, and macOS is not ELF, so the plugin
changes nothing there.
"""

from __future__ import annotations

import sys
from typing import Optional

from .logs import get_logger

__all__ = ["platform_allows", "unsupported_reason"]

log = get_logger(__name__)

_ELF_PLATFORM_PREFIXES = ("linux", "freebsd", "netbsd", "openbsd", "dragonfly", "sunos", "gnu")


def unsupported_reason(platform: Optional[str] = None) -> Optional[str]:
    """None where the rule applies, else a sentence saying why the plugin stands aside."""
    plat = sys.platform if platform is None else platform
    if plat == "android" or (platform is None and hasattr(sys, "getandroidapilevel")):
        return "Android requires extension modules to link libpython (bpo-21536)"
    if plat.startswith("cygwin") or plat.startswith("msys"):
        return "Cygwin requires extension modules to link libpython"
    if plat.startswith("win"):
        return "Windows requires extension modules to link pythonXY.lib"
    if plat == "darwin":
        return "macOS uses Mach-O, not ELF; this rule is for ELF platforms"
    if plat.startswith(_ELF_PLATFORM_PREFIXES):
        return None
    return f"platform {plat!r} is not a known ELF platform"


_said_platform = False


def platform_allows() -> bool:
    """False (and say why, once per process) where the rule does not hold."""
    global _said_platform
    reason = unsupported_reason()
    if reason is None:
        return True
    if not _said_platform:
        log.info("changing nothing: %s", reason)
        _said_platform = True
    return False
