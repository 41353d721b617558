"""An absolute RPATH/RUNPATH entry that does not exist here leaks the build machine's layout.

``check`` reports it as a note (never a failure): a CI runner's temporary directory
baked into a module is searched on every machine it is installed on. Modules built by
gcc with real ``-Wl,-rpath`` entries; the control's entry exists and is not reported.
"""

from __future__ import annotations

from pathlib import Path

from support.cbuild import check_doc, cli, module, problems_of


def test_absent_rpath_entry_is_a_note(tmp_path: Path) -> None:
    gone = "/tmp/nolibpython-ci-runner-gone/_work/build/lib"
    assert not Path(gone).exists()
    so = module(tmp_path / "leak", "_m", extra=[f"-Wl,-rpath,{gone}"])
    proc = cli("check", so)
    assert proc.returncode == 0, proc.stdout
    (line,) = [ln for ln in proc.stdout.splitlines() if gone in ln]
    assert f": note: RUNPATH entry {gone} does not exist on this machine: it leaks the build machine's layout" in line
    (p,) = problems_of(check_doc(so))[str(so)]
    assert (p["code"], p["severity"], p["detail"]) == ("leaked-rpath", "note", gone)
    # Control: an entry that exists here (and $ORIGIN) is not reported.
    here = module(tmp_path / "here", "_m", extra=[f"-Wl,-rpath,{tmp_path}:$ORIGIN/../lib"])
    assert problems_of(check_doc(here))[str(here)] == []
