"""The physical floor of checking a wheel: inflate every ELF member, discard the bytes.

Run as a script (a fresh Python process, like the checker). ELF members are found the
way the checker finds them, by their first four bytes; each one is then inflated to
its end in 1 MiB steps, with no parsing at all. Prints the number of ELF members.
"""

from __future__ import annotations

import sys
import zipfile

STEP = 1024 * 1024


def main(path: str) -> int:
    count = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < 4:
                continue
            with zf.open(info) as f:
                if f.read(4) != b"\x7fELF":
                    continue
                count += 1
                while f.read(STEP):
                    pass
    print(count)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
