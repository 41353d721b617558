"""The backend wrapper driven as a front-end drives it (pyproject_hooks in a subprocess), and
small projects whose [build-system] names it, for the wrapper's tests."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional, Tuple

from . import run

PYTHON = Path(sys.executable)

HOOK_CALL = textwrap.dedent(
    """
    import sys
    from pyproject_hooks import BuildBackendHookCaller, HookMissing
    caller = BuildBackendHookCaller(sys.argv[1], "setuptools_nolibpython.wrap")
    hook = sys.argv[2]
    try:
        if hook == "features":
            print("RESULT", caller._supported_features())
        elif hook == "build_editable":
            print("RESULT", caller.build_editable(sys.argv[3]))
        elif hook == "build_sdist":
            print("RESULT", caller.build_sdist(sys.argv[3]))
        elif hook == "build_wheel":
            print("RESULT", caller.build_wheel(sys.argv[3]))
        else:
            print("RESULT", getattr(caller, hook)())
    except HookMissing as exc:
        print("HOOKMISSING", exc)
    except Exception as exc:
        print("HOOKFAILED", type(exc).__name__)
    """
)

TINY_BACKEND = textwrap.dedent(
    """
    import os, shutil

    class Backend:  # for the module:object form
        @staticmethod
        def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
            # A real wheel made elsewhere (TINY_WHEEL), handed over as this backend's own.
            src = os.environ["TINY_WHEEL"]
            shutil.copy(src, wheel_directory)
            return os.path.basename(src)

    def get_requires_for_build_wheel(config_settings=None):
        return ["tiny-extra-requirement"]

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        raise RuntimeError("not reached in these tests")
    """
)


def _hook(project: Path, hook: str, *args: str, env: Optional[Dict[str, str]] = None) -> Tuple[str, str]:
    # the tiny in-tree backend lives in the project; the package keeps coming from where the
    # test run's PYTHONPATH says (scripts/mutate.py's mutated copy)
    path = os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": path, **(env or {})}
    proc = run([PYTHON, "-c", HOOK_CALL, project, hook, *args], env=env, cwd=project)
    return proc.stdout, proc.stderr


def _wrapped(tmp_path: Path, table: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "setuptools_nolibpython.wrap"\n\n'
        f'[project]\nname = "x"\nversion = "1"\n\n{table}'
    )
    (tmp_path / "tinybackend.py").write_text(TINY_BACKEND)
    return tmp_path

TABLE = "[tool.setuptools-nolibpython]\n"
