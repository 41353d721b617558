"""docs/ci.md read as data: its shell blocks, the gate's lines and the commands the page promises."""

from __future__ import annotations

import re
from typing import List

from . import REPO

DOC = REPO / "docs" / "ci.md"

INSTALL = "python -m pip install setuptools-nolibpython"

REPORT = "nolibpython-report.json"


def blocks(lang: str) -> List[str]:
    return [str(b) for b in re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)]


def gate_lines() -> List[str]:
    (gate,) = blocks("sh")
    return [line for line in gate.splitlines() if line.strip() and not line.startswith("#")]
