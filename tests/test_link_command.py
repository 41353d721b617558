"""The real link command of a real `pip wheel` build, captured by a recording compiler.

Either linker defence hides the other in the build's outcome: the appended
``--unresolved-symbols=ignore-all`` cancels a ``-z defs`` the filter missed,
and a filtered ``-z defs`` needs no cancelling. So each is asserted on its own, on the
argv gcc received: ``CC`` and ``LDSHARED`` name a wrapper that appends its arguments to
a log and execs gcc. Control: the same build without the plugin runs a link with the bans and without
the appended flags, and that link fails on the module's Py* references.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Dict, List

import pytest
from support import built_wheel, in_parallel, make_project, pip_wheel

#: How the project and the environment forbid undefined symbols (three spellings).
BANS = ["-Wl,-z,defs", "-Wl,--no-undefined"]
LDFLAGS_BAN = "-Wl,-z,defs"
IGNORE = "-Wl,--unresolved-symbols=ignore-all"
ALLOW_SHLIB = "-Wl,--allow-shlib-undefined"

END = "@@end-of-argv@@"
WRAPPER = """#!/bin/sh
# Record this argv (one argument a line, then an end marker) and run the real compiler.
{{ for a in "$@"; do printf '%s\\n' "$a"; done; printf '%s\\n' '{end}'; }} >> '{log}'
exec gcc "$@"
"""


def _link_commands(log: Path) -> List[List[str]]:
    calls: List[List[str]] = [[]]
    for line in log.read_text().splitlines():
        if line == END:
            calls.append([])
        else:
            calls[-1].append(line)
    return [argv for argv in calls if "-shared" in argv]


def _build(root: Path, wheelhouse: Path, enable: bool) -> List[str]:
    log = root / "argv.jsonl"
    cc = root / "recording-gcc"
    root.mkdir(parents=True)
    cc.write_text(WRAPPER.format(log=log, end=END))
    cc.chmod(0o755)
    ext = f"extra_link_args={BANS[:1]!r}"
    proj = make_project(root / "src", name="linkcmd", enable=enable, ext_kwargs=ext)
    env = {"CC": str(cc), "LDSHARED": f"{cc} -shared", "LDFLAGS": "-Wl,--no-undefined " + LDFLAGS_BAN}
    proc = pip_wheel(proj, root / "dist", wheelhouse, env=env)
    out = proc.stdout + proc.stderr
    if enable:
        assert proc.returncode == 0, out[-4000:]
        built_wheel(root / "dist")
    else:  # the bans do their job: the module leaves Py* undefined for the interpreter
        assert proc.returncode != 0 and "undefined reference to `PyLong_FromLong'" in out, out[-4000:]
    (argv,) = _link_commands(log)
    return argv


@pytest.fixture(scope="module")
def links(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Dict[str, List[str]]:
    root = tmp_path_factory.mktemp("linkcmd")
    on, off = in_parallel(lambda: _build(root / "on", wheelhouse, True),
                          lambda: _build(root / "off", wheelhouse, False))
    return {"plugin": on, "plain": off}


def _bans(argv: List[str]) -> List[str]:
    """Every argument that forbids undefined symbols, in any spelling seen here."""
    words = [w for a in argv for w in (a[4:].split(",") if a.startswith("-Wl,") else [a])]
    out = [w for w in words if w in ("--no-undefined", "-zdefs", "--unresolved-symbols=report-all")]
    out += ["-z defs" for i, w in enumerate(words[:-1]) if w == "-z" and words[i + 1] == "defs"]
    return out


def test_control_plain_build_links_with_the_bans_and_fails(links: Dict[str, List[str]]) -> None:
    argv = links["plain"]
    assert sorted(_bans(argv)) == sorted(["-z defs", "--no-undefined", "-z defs"]), shlex.join(argv)
    assert IGNORE not in argv and ALLOW_SHLIB not in argv


def test_plugin_removes_every_ban_from_the_link(links: Dict[str, List[str]]) -> None:
    assert _bans(links["plugin"]) == [], shlex.join(links["plugin"])


def test_plugin_appends_ignore_all_last(links: Dict[str, List[str]]) -> None:
    argv = links["plugin"]
    assert argv.count(IGNORE) == 1 and argv.count(ALLOW_SHLIB) == 1, shlex.join(argv)
    unresolved = [a for a in argv if "unresolved-symbols" in a]
    assert unresolved[-1] == IGNORE, shlex.join(argv)  # the last option wins
    assert argv.index(IGNORE) > max(i for i, a in enumerate(argv) if a.endswith(".o")), shlex.join(argv)

