"""Write generated documents, or check that the committed ones are current.

One behaviour for every generator in scripts/ (gen_messages, gen_findings): ``--check``
writes nothing and names each stale document; otherwise each is replaced atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Tuple

from setuptools_nolibpython.elfpatch import write_atomically


def write_or_check(tool: str, targets: Iterable[Tuple[Path, str]], check: bool) -> int:
    """0 when written (or, with ``check``, current); 1 with one line naming the stale files."""
    targets = list(targets)
    if check:
        stale = [path.name for path, text in targets if text != path.read_text()]
        if stale:
            print(f"{tool}: {' and '.join(stale)} out of date; run scripts/{tool}.py", file=sys.stderr)
            return 1
        return 0
    for path, text in targets:
        write_atomically(str(path), text.encode(), 0o644)
    return 0
