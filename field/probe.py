"""Ground truth, run by the interpreter under test: does each ELF file really load?

Reads a JSON job (argv[1]) and prints one JSON document. Standard library only, and no
syntax newer than Python 3.9, because every interpreter on the machine runs it.

- extension modules are imported (``importlib.import_module``) with ``root`` first on
  sys.path; when the import stops at a missing *Python* dependency of the package (a
  ModuleNotFoundError for a name outside the wheel), the module is instead opened with
  ``ctypes.CDLL(path, RTLD_GLOBAL)`` in this interpreter, which runs the same loader
  (DT_NEEDED search, RTLD_NOW symbol binding against the interpreter's global scope)
  that the check is about;
- other shared libraries are opened with ``ctypes.CDLL(path, RTLD_GLOBAL)`` after every
  module, twice (a library whose symbols another library of the wheel provides loads
  on the second pass, as it does when the package loads both);
- then the smoke snippet runs, if any.

A job with ``"installed": true`` judges a package as a user meets it instead: the wheel
and its dependencies are installed in this interpreter's environment, each top-level
import name is imported in order (the verdict), then each extension module of the wheel
(detail). A failure is a loader failure when the loader's message appears anywhere in the
exception or the exceptions it was raised from.
"""

import ctypes
import importlib
import json
import os
import re
import sys
import traceback
from typing import Any, Dict, Iterable, List

Result = Dict[str, Any]

#: What the dynamic loader says when it refuses a file (the failures the check predicts).
LOADER = re.compile(r"[^ :]+: cannot open shared object file|[^ ]+: undefined symbol: [^ ]+|version `[^']+' not found")


def _import(name: str, path: str, tops: Iterable[str]) -> Result:
    try:
        importlib.import_module(name)
        return {"how": "import", "ok": True, "error": ""}
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing not in tops:
            return _dlopen(path, f"dlopen (import needs {missing})")
        return {"how": "import", "ok": False, "error": _line(exc)}
    except ImportError as exc:
        text = " ".join(str(exc).split())
        found = LOADER.search(text)
        if found:  # a package may wrap the loader's message in advice (numpy does)
            return {"how": "import", "ok": False, "error": "ImportError: " + found.group(0).strip()}
        # the loader's verdict is hidden behind the package's own failure (a missing
        # dependency imported from C, a version check): ask the loader directly
        return _dlopen(path, f"dlopen (import failed: {_line(exc)[:120]})")
    except BaseException as exc:  # the loader succeeded; the module's own init code failed
        return {"how": "import", "ok": True, "error": "loaded; init raised " + _line(exc)}


def _dlopen(path: str, how: str = "dlopen") -> Result:
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        return {"how": how, "ok": True, "error": ""}
    except OSError as exc:
        return {"how": how, "ok": False, "error": _line(exc)}


def _line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:400]


def _chain(exc: BaseException) -> str:
    """The messages of an exception and of those it was raised from (numpy wraps the loader's)."""
    seen: List[str] = []
    cur: Any = exc
    while cur is not None and len(seen) < 8:
        seen.append(" ".join(str(cur).split()))
        cur = cur.__cause__ or cur.__context__
    return " | ".join(seen)


def _import_installed(name: str) -> Result:
    try:
        importlib.import_module(name)
        return {"ok": True, "loader": "", "error": ""}
    except BaseException as exc:
        found = LOADER.search(_chain(exc))
        return {"ok": False, "loader": found.group(0).strip() if found else "", "error": _line(exc)}


def installed(job: Dict[str, Any]) -> None:
    tops = {name: _import_installed(name) for name in job.get("tops", [])}
    modules = {item["path"]: _import_installed(item["name"]) for item in job.get("modules", [])}
    # into the job's own file: what an import prints, or warns at exit, cannot mix with it
    with open(job["out"], "w") as f:
        json.dump({"tops": tops, "modules": modules, "python": sys.version.split()[0]}, f)


def main() -> None:
    with open(sys.argv[1]) as f:
        job = json.load(f)
    if job.get("installed"):
        installed(job)
        return
    root = job["root"]
    sys.path.insert(0, root)
    tops = set(job.get("tops", []))
    results: Dict[str, Result] = {}
    for item in job.get("modules", []):
        results[item["path"]] = _import(item["name"], os.path.join(root, item["path"]), tops)
    pending: List[str] = list(job.get("libraries", []))
    for _pass in range(2):
        retry: List[str] = []
        for rel in pending:
            results[rel] = _dlopen(os.path.join(root, rel))
            if not results[rel]["ok"]:
                retry.append(rel)
        pending = retry
    smoke: Result = {"ran": False, "ok": True, "error": ""}
    if job.get("smoke"):
        smoke["ran"] = True
        try:
            exec(compile(job["smoke"], "<smoke>", "exec"), {"__name__": "__smoke__"})
        except BaseException:
            smoke["ok"] = False
            smoke["error"] = " | ".join(traceback.format_exc().strip().splitlines()[-3:])[:600]
    json.dump(
        {"files": results, "smoke": smoke, "python": sys.version.split()[0], "executable": sys.executable}, sys.stdout
    )


if __name__ == "__main__":
    main()
