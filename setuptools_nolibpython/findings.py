"""The finding catalogue: every code, its severity and the words of its message and fix.

The checks (policy, symbols, scan) decide *what* is wrong and call one function here
with the facts; this module alone says it. So a wording changes in one place, and
docs/check-json-schema.json's code list and docs/messages.md's table of codes are
generated from ``Code`` (scripts/gen_findings.py; a test fails when they differ).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from enum import Enum
from typing import Dict, Optional, Sequence, Tuple

__all__ = [
    "MAX_LISTED",
    "Code",
    "Problem",
    "Severity",
    "printable",
]

#: Per file (undefined symbols) or per kind of container finding, at most this many are
#: named one by one before an "and N more" line.
MAX_LISTED = 20


class Severity(str, Enum):
    """How much a finding weighs: an error fails the file; a warning or a note never does."""

    ERROR = "error"
    WARNING = "warning"
    #: Worth knowing, not wrong: never fails anything, whatever the mode.
    NOTE = "note"

    @classmethod
    def from_config(cls, value: str) -> "Severity":
        """The config and CLI spell a warning "warn" (``check-symbols``, ``--strict``)."""
        if value == "error":
            return cls.ERROR
        if value == "warn":
            return cls.WARNING
        raise ValueError(f"severity must be 'error' or 'warn', not {value!r}")


class Code(str, Enum):
    """A finding's kind, for machines (``--json``'s ``code``); ``.value`` is what they read."""

    NEEDS_LIBPYTHON = "needs-libpython"
    EXECUTABLE_NEEDS_LIBPYTHON = "executable-needs-libpython"
    PYTHON_RPATH = "python-rpath"
    LEAKED_RPATH = "leaked-rpath"
    UNREADABLE = "unreadable"
    UNRESOLVED_SYMBOL = "unresolved-symbol"
    EMBEDDED_RUNTIME = "embedded-runtime"
    STABLE_ABI = "stable-abi"
    MISSING_LIBRARY = "missing-library"
    HOST_ONLY_SYMBOL = "host-only-symbol"

    @property
    def meaning(self) -> str:
        """One line for people: the table in docs/messages.md."""
        return _MEANING[self]

    @property
    def severities(self) -> Tuple[Severity, ...]:
        """The severities a finding of this code can have."""
        return _SEVERITIES[self]


_E, _W, _N = Severity.ERROR, Severity.WARNING, Severity.NOTE
_MEANING: Dict[Code, str] = {
    Code.NEEDS_LIBPYTHON: "an extension module or library links libpython (DT_NEEDED)",
    Code.EXECUTABLE_NEEDS_LIBPYTHON: "a program in the wheel embeds Python through libpython (repair leaves it)",
    Code.PYTHON_RPATH: "an RPATH/RUNPATH entry points at a Python installation's lib dir",
    Code.LEAKED_RPATH: "an absolute RPATH/RUNPATH entry does not exist on this machine",
    Code.UNREADABLE: "a file that cannot be read as ELF",
    Code.UNRESOLVED_SYMBOL: "an undefined symbol nothing the file loads defines (or only an unloaded file does)",
    Code.EMBEDDED_RUNTIME: "a module defines the CPython runtime (a static libpython linked in)",
    Code.STABLE_ABI: "an abi3/abi3t module uses API outside the Stable ABI or newer than its target",
    Code.MISSING_LIBRARY: "a DT_NEEDED library that nothing checked here provides",
    Code.HOST_ONLY_SYMBOL: "a symbol only the wheel's own Python host program defines",
}
#: ``check-symbols`` (error or warn) sets the configurable ones; ``--strict`` makes
#: missing-library an error.
_SEVERITIES: Dict[Code, Tuple[Severity, ...]] = {
    Code.NEEDS_LIBPYTHON: (_E,),
    Code.EXECUTABLE_NEEDS_LIBPYTHON: (_E,),
    Code.PYTHON_RPATH: (_W,),
    Code.LEAKED_RPATH: (_N,),
    Code.UNREADABLE: (_E,),
    Code.UNRESOLVED_SYMBOL: (_E, _W),
    Code.EMBEDDED_RUNTIME: (_E, _W),
    Code.STABLE_ABI: (_E, _W),
    Code.MISSING_LIBRARY: (_E, _W),
    Code.HOST_ONLY_SYMBOL: (_W,),
}


@dataclass(frozen=True)
class Problem:
    """One finding: ``code`` for machines, ``message`` and ``fix`` for people (results.Problem)."""

    code: Code
    severity: Severity
    message: str
    fix: str
    detail: str = ""  # the offending value: a DT_NEEDED name, an RPATH entry, a symbol


def printable(text: str) -> str:
    """A string from a file, safe in a one-line message: undecodable bytes (kept by
    read_string as surrogates) and control characters are shown as escapes."""
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in raw)


# -- libpython links (policy)

_ALLOW_HINT = "if the file embeds Python on purpose, list it in allow"
#: The fix for a module that links libpython, by where the verdict is read (ScanOptions.context).
_FIX_LIBPYTHON = {
    # A finished wheel or tree: whoever built it can change the link, or repair the wheel.
    "check": (
        "do not link libpython: remove it from libraries=, extra_link_args, extra_objects or LDFLAGS "
        "(builds with setuptools-nolibpython enabled strip it), or run "
        f"'nolibpython repair' on the wheel; {_ALLOW_HINT}"
    ),
    # Inside a setuptools build with the plugin on: its links are already stripped, and
    # there is no wheel yet to repair.
    "build": (
        "this build strips libpython from every setuptools link, so the file was linked elsewhere (a "
        "prebuilt library in the package data, or a custom step such as CMake run from build_ext): rebuild "
        'it without libpython, or set on-violation = "repair" in [tool.setuptools-nolibpython] to remove '
        f"the entry before the wheel is written; {_ALLOW_HINT}"
    ),
}
#: Under the wrapper the backend's own fix (backend_hint) comes first.
_FIX_BACKEND = (
    'or set on-violation = "repair" in [tool.setuptools-nolibpython] to remove the entry before the wheel '
    f"is handed over; {_ALLOW_HINT}"
)
_FIX_EXECUTABLE = (
    "link libpython statically (libpythonX.Y.a, with -Wl,-E so that modules find its symbols), or make "
    "the program depend on an installed libpython (the package that provides it), or list it in allow; "
    "repair never edits a program: without that entry it would fail at start-up"
)


def libpython_fix(context: str = "check", backend_hint: str = "") -> str:
    """How to fix a module that links libpython, said where the reader can act on it."""
    if context == "backend":
        first = backend_hint or "do not link libpython in the backend's link step (the build's linker flags)"
        return f"{first}; {_FIX_BACKEND}"
    return _FIX_LIBPYTHON.get(context, _FIX_LIBPYTHON["check"])


def needs_libpython(
    name: str, program: bool, allowed: bool, context: str = "check", backend_hint: str = ""
) -> Problem:
    """A DT_NEEDED of libpython: a module's violation, or a program that embeds Python.
    ``allowed``: the file matches ``allow``; the finding stays but offers no fix."""
    shown = printable(name)
    if program:
        message = (f"is a program that embeds Python through {shown} (DT_NEEDED), not an extension "
                   "module: it starts only where that library is installed")
        code, fix = Code.EXECUTABLE_NEEDS_LIBPYTHON, _FIX_EXECUTABLE
    else:
        message, code, fix = f"needs {shown} (DT_NEEDED)", Code.NEEDS_LIBPYTHON, libpython_fix(context, backend_hint)
    if allowed:
        message += "; allowed to link libpython (matches allow)"
        fix = ""
    return Problem(code, Severity.ERROR, message, fix, name)


def leaked_rpath(kind: str, entry: str) -> Problem:
    """``kind`` RPATH or RUNPATH: an absolute entry that does not exist here."""
    return Problem(
        Code.LEAKED_RPATH, Severity.NOTE,
        f"{kind} entry {printable(entry)} does not exist on this machine: it leaks the build machine's "
        "layout, and ld.so searches that path on every machine the file is installed on",
        "drop the -Wl,-rpath (CMake: the build RPATH) that put it there, or use $ORIGIN-relative entries",
        entry,
    )


def python_rpath(kind: str, entry: str) -> Problem:
    """``kind`` "RPATH", "RUNPATH" or "RPATH/RUNPATH": an entry that only served libpython."""
    return Problem(
        Code.PYTHON_RPATH, Severity.WARNING,
        f"{kind} entry {printable(entry)} points at a Python installation's lib dir",
        "it only served libpython and leaks the build machine's paths: set strip-rpath = true "
        "(the default) or run 'nolibpython repair'",
        entry,
    )


def unreadable(why: str) -> Problem:
    return Problem(
        Code.UNREADABLE, Severity.ERROR, f"cannot be read as ELF: {why}",
        "rebuild the file or remove it from the package; a file that cannot be verified is not shipped",
    )


# -- the symbol check (symbols)

def embedded_runtime(found: Sequence[str], severity: Severity) -> Problem:
    """``found``: the runtime-only symbols the module defines."""
    return Problem(
        Code.EMBEDDED_RUNTIME, severity,
        f"defines the CPython runtime ({', '.join(found[:4])}): it carries a second copy of the "
        "interpreter, most likely a static libpythonX.Y.a linked in; importing it mixes two runtimes",
        "link no libpython at all: remove libpythonX.Y.a from extra_objects/libraries/LDFLAGS "
        "(CMake: use Python::Module, not Python::Python); the importing interpreter provides these symbols",
        found[0],
    )


def _abi_words(abi3t: bool) -> Tuple[str, str]:
    return ("abi3t", "Py_TARGET_ABI3T") if abi3t else ("abi3", "Py_LIMITED_API")


def not_stable_abi(sym: str, abi3t: bool, severity: Severity) -> Problem:
    kind, macro = _abi_words(abi3t)
    return Problem(
        Code.STABLE_ABI, severity,
        f"{kind} module uses {sym}, which is not in the Stable ABI: it can fail to import "
        "on other Python versions",
        f"use only Limited API calls (define {macro} to your target and fix what no "
        f"longer compiles), or build a version-specific wheel instead of {kind}",
        sym,
    )


def newer_stable_abi(
    sym: str, abi3t: bool, target: Tuple[int, int], added: Tuple[int, int], severity: Severity
) -> Problem:
    """``sym`` entered the Stable ABI in ``added``, after the module's ``target``."""
    kind, macro = _abi_words(abi3t)
    from .stable_abi import format_version  # only a Stable ABI finding needs it: builds import no more

    tv, av = format_version(target), format_version(added)
    return Problem(
        Code.STABLE_ABI, severity,
        f"{kind} module uses {sym}, which entered the Stable ABI in {av}, after the wheel's target "
        f"{tv} (cp{target[0]}{target[1]}-{kind}): Python {tv} is not bound to export it, and where it "
        f"does not, the import fails with \"undefined symbol: {sym}\"",
        f"avoid {sym}, or raise the target to {av} (py_limited_api=\"cp{added[0]}{added[1]}\" "
        f"and {macro}=0x{added[0]:02X}{added[1]:02X}0000)",
        sym,
    )


def missing_system_library(name: str, requester: str) -> Problem:
    """A C library of the manylinux/musllinux policies this machine lacks: never bundled."""
    return Problem(
        Code.MISSING_LIBRARY, Severity.WARNING,
        f"needs {name} (DT_NEEDED of {requester}), a system library that this machine does not "
        "have; its undefined symbols were not checked",
        "nothing to bundle: system libraries come from the target system (manylinux/musllinux "
        "policies); check on a machine of the wheel's platform",
        name,
    )


def _cannot_open(name: str) -> str:
    return f"\"{name}: cannot open shared object file\""


def unreached_library(name: str, requester: str, shipped: str, program: bool, severity: Severity) -> Problem:
    """The wheel ships ``name`` (at ``shipped``), where no RPATH/RUNPATH of ``requester`` looks."""
    rel = posixpath.relpath(posixpath.dirname(shipped), posixpath.dirname(requester) or ".")
    if program:
        works = f"the program fails to start with {_cannot_open(name)}"
    else:
        works = (f"the import works only where something loads {name} first (the package's __init__ "
                 f"with ctypes, say), else it fails with \"ImportError: {name}: cannot open shared "
                 "object file\"")
    return Problem(
        Code.MISSING_LIBRARY, severity,
        f"needs {name} (DT_NEEDED of {requester}); the wheel ships {shipped}, but no RPATH/RUNPATH "
        f"of {requester} reaches it: {works}",
        ("" if program else "nothing to do if the package loads it first; otherwise ")
        + f"add an RPATH of $ORIGIN/{rel} to {requester} (auditwheel repair sets it), or move the "
        "library beside it",
        name,
    )


def nothing_provides(
    name: str, requester: str, severity: Severity, program: bool = False, foreign: bool = False,
    checked_with: bool = False,
) -> Problem:
    """The one wording of a library found nowhere: when the load works, and no bundling advice
    (the library may be the system's, or another package's that is imported first).
    ``foreign``: the file is built for another machine, whose libraries were not searched;
    ``checked_with``: other wheels were checked together with this one."""
    where = "not in the wheel" + (" or the wheels checked with it" if checked_with else "")
    if foreign:
        where += "; this machine's libraries were not searched: the file is built for another machine"
    else:
        where += ", not in this machine's library path, not reached by its RPATH/RUNPATH"
    if program:
        works = f"the program starts only where the system provides {name}, else it fails with {_cannot_open(name)}"
        fix = f"make sure the systems that run the program provide {name}"
    else:
        works = (f"the import works where the system provides {name}, or where something loads a library "
                 f"with that name first (another package's import, ctypes); elsewhere it fails with "
                 f"\"ImportError: {name}: cannot open shared object file\"")
        fix = ("nothing to do if the target systems provide it or a dependency loads it first; to confirm a "
               "dependency's wheel ships it, check the wheels together (nolibpython check WHEEL DEPENDENCY.whl)")
    return Problem(
        Code.MISSING_LIBRARY, severity,
        f"needs {name} (DT_NEEDED of {requester}), which nothing checked here provides ({where}): {works}; its "
        "undefined symbols were not checked",
        fix,
        name,
    )


def _import_fails(path: str, sym: str) -> str:
    return f"\"ImportError: {path}: undefined symbol: {sym}\""


def host_only_symbols(
    path: str, syms: Sequence[str], hosts: Sequence[str], interpreter: str, release: str, python_symbol: bool
) -> Problem:
    """Symbols only the wheel's Python host programs (``hosts``) define, not ``interpreter``."""
    more = len(syms) - MAX_LISTED
    listed = ", ".join(syms[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")
    return Problem(
        Code.HOST_ONLY_SYMBOL, Severity.WARNING,
        f"undefined symbol(s) {listed}: defined by the wheel's Python host ({', '.join(hosts)}) but not "
        f"exported by {interpreter} ({release}): it loads inside that program, while an import in this "
        f"interpreter fails with {_import_fails(path, syms[0])}",
        "nothing to do if only the host loads it (a frozen application's modules); "
        + ("to import it in this interpreter, build it against this interpreter's headers (private _Py* "
           "symbols differ even between patch releases)" if python_symbol else
           "no interpreter defines a symbol of the host program, so only the host can load it"),
        syms[0],
    )


def preload_only_symbol(path: str, sym: str, other: str) -> Problem:
    """``sym`` is defined only by ``other``, a file of the wheel that ``path`` does not load."""
    return Problem(
        Code.UNRESOLVED_SYMBOL, Severity.WARNING,
        f"undefined symbol {sym} is defined only by {other}, which this file does not load "
        f"(not in its DT_NEEDED closure): the import works only if {other} was loaded before with "
        f"RTLD_GLOBAL, else it fails with {_import_fails(path, sym)}",
        f"link {posixpath.basename(other)} (DT_NEEDED, with an RPATH of $ORIGIN-relative form) "
        "if the module needs it",
        sym,
    )


def unresolved_symbol(
    path: str, sym: str, severity: Severity, program: bool, hosts: Sequence[str], python_fix: Optional[str]
) -> Problem:
    """Nothing defines ``sym``. ``python_fix``: the fix of a Py* symbol (python_symbol_fix),
    None for another symbol."""
    fix = python_fix if python_fix is not None else (
        "define it, fix its spelling, or link the library that provides it (Extension(libraries=[...])); "
        "without libpython and -z defs the linker no longer reports this"
    )
    where = "" if program else "the interpreter's global scope or "
    if hosts:
        where = f"the wheel's Python host ({', '.join(hosts)}), " + where
    return Problem(
        Code.UNRESOLVED_SYMBOL, severity,
        f"undefined symbol {sym}: nothing in {where}this file's DT_NEEDED closure defines it; "
        f"loading it will fail with {_import_fails(path, sym)}",
        fix,
        sym,
    )


def python_symbol_fix(sym: str, interpreter: str, release: str, pyver: str) -> str:
    """Say what a missing Py* symbol is: private ones change within X.Y (patch releases)."""
    if sym.startswith("_Py"):
        return (
            f"{sym} is a private CPython symbol (no ABI promise, not even across patch releases of "
            f"{pyver}) that this interpreter ({release}, {interpreter}) does not export, so the module "
            "fails to import there; use the public C API instead, or build against the oldest patch "
            "release you support"
        )
    return (
        f"{sym} is not exported by this interpreter ({release}, {interpreter}): it comes from another "
        f"release or build of Python {pyver}, so the module fails to import there; use API that "
        f"Python {pyver} has from its first release, or build against this interpreter's headers"
    )


def more_unresolved(rest: Sequence[str], severity: Severity) -> Problem:
    """The symbols beyond MAX_LISTED, in one line."""
    return Problem(
        Code.UNRESOLVED_SYMBOL, severity,
        f"and {len(rest)} more undefined symbols ({', '.join(rest[:5])}, ...)",
        "see the symbols listed above",
        rest[0],
    )


# -- notes: what the symbol check could not verify (said by the CLI and the build log)

def note_abi3t_below_floor(claimed: str) -> str:
    return (
        f"the wheel claims {claimed}, but abi3t (PEP 803) exists from Python 3.15 on (pyabi.h rejects "
        f"Py_TARGET_ABI3T below 0x030F0000): its abi3t modules were held to the Stable ABI of 3.15; "
        "tag the wheel cp315-abi3t (or cp315-abi3.abi3t)"
    )


def note_no_python_exports(interpreter: str) -> str:
    return f"Py* symbols not judged: {interpreter} exports no CPython runtime symbols"


def unknown_scope(interpreter: str, name: str, requester: str) -> str:
    """Why the interpreter's global scope is unknown (a DT_NEEDED it cannot find)."""
    return (
        f"the interpreter {interpreter} needs {name} (DT_NEEDED of {requester}), which ld.so's "
        "search rules do not find from here, so its global scope is unknown"
    )


def unreadable_interpreter(interpreter: str, exc: BaseException) -> str:
    return f"cannot read the interpreter {interpreter}: {exc}"


def note_symbols_not_checked(why: str) -> str:
    return f"symbols not checked: {why}"


def note_other_machine(count: int, theirs: str, interpreter: str, mine: str) -> str:
    return (
        f"{count} file(s) are built for another machine ({theirs}) than {interpreter} "
        f"({mine}); their symbols were not checked"
    )


def note_python_host(program: str) -> str:
    return (
        f"{program} is a program that statically embeds CPython and exports its API: it hosts the "
        "modules shipped beside it (a frozen application), so they were judged against its symbols "
        "as well as the interpreter's"
    )


def note_python_symbols_skipped(count: int, judge: str, mine: str, interpreter: str) -> str:
    return (
        f"{count} Py*/_Py* symbol(s) were not judged: the wheel is built for {judge}, not for {mine} "
        f"({interpreter}); {judge} would judge them (nolibpython check --python PATH-TO-IT)"
    )
