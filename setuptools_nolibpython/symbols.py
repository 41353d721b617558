"""Symbol-level verification: will every module in the wheel import?

Stripping libpython and cancelling ``-z defs`` removes the linker's check for undefined
symbols, so this module does it instead, the way ld.so will at import time:

- every undefined, non-weak dynamic symbol of a module or library must be defined in the
  interpreter's global scope (its executable and that executable's DT_NEEDED closure:
  libpython on shared builds, libc, libm, ...) or in the file's own DT_NEEDED closure,
  searched like ld.so (RPATH/RUNPATH with ``$ORIGIN`` inside the wheel, then the
  system's library path); otherwise the import fails with "undefined symbol";
- a module that *defines* the CPython runtime (``Py_Initialize``, ``_PyRuntime``...)
  carries a second interpreter, normally a static ``libpythonX.Y.a`` linked in;
- an abi3 module may use only Stable ABI symbols, none newer than its target version;
  an abi3t module (PEP 803, free-threaded Stable ABI) likewise, with a target of 3.15
  at least. CPython's ``Misc/stable_abi.toml`` lists one set of exported functions and
  data for both: where abi3t differs from abi3 it is in struct layouts (PyObject opaque,
  ``abi3t_opaque`` structs), which no symbol table shows;
- a module built for a free-threaded CPython (``cp314t``) is judged only against a
  free-threaded interpreter of that version, never against a GIL build's exports.

Dynamic symbols are read through the ByteSource (DT_SYMTAB/DT_STRTAB, counted through
DT_GNU_HASH or DT_HASH), unpacked with ``struct.iter_unpack`` and bounded by the file
size. Libraries outside the wheel are read once per process.
"""

from __future__ import annotations

import dataclasses
import posixpath
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

from . import findings, syslibs
from .dynsym import symbol_key
from .elf import ElfInfo, describe_machine
from .errors import ElfReadError
from .findings import MAX_LISTED, Code, Problem, Severity
from .interpreter import InterpreterScope, interpreter_release, interpreter_scope
from .ldso import Closure, LoadedObject, Resolver, load_closure, make_object
from .names import is_libpython_filename
from .pybuild import (
    ABI3T_MINIMUM,
    Build,
    WheelTarget,
    file_python_build,
    is_abi3_name,
    is_abi3t_name,
    is_python_symbol,
)
from .results import SymbolSettings
from .sources import ByteSource
from .stable_abi import Version, format_version, parse_limited_api
from .stable_abi import load as load_stable_abi

__all__ = [
    "EMBEDDED_RUNTIME",
    "HOST_ONLY_SYMBOL",
    "MAX_LISTED",
    "MISSING_LIBRARY",
    "RUNTIME_MARKERS",
    "STABLE_ABI",
    "UNRESOLVED",
    "Provided",
    "SymbolCheck",
    "offer_libraries",
    "provided_libraries",
    "symbol_checks",
]

# The codes this module decides, by their old names (findings.Code is the one definition).
UNRESOLVED = Code.UNRESOLVED_SYMBOL
EMBEDDED_RUNTIME = Code.EMBEDDED_RUNTIME
STABLE_ABI = Code.STABLE_ABI
MISSING_LIBRARY = Code.MISSING_LIBRARY
HOST_ONLY_SYMBOL = Code.HOST_ONLY_SYMBOL
WARNING = Severity.WARNING

#: Symbols only a copy of the CPython runtime defines: their presence in a module means
#: libpythonX.Y.a (or the interpreter's objects) was linked into it.
RUNTIME_MARKERS: Tuple[str, ...] = (
    "Py_Initialize",
    "Py_InitializeEx",
    "Py_InitializeFromConfig",
    "_PyRuntime",
    "Py_Main",
    "Py_BytesMain",
    "PyEval_EvalCode",
    "Py_FinalizeEx",
    "PyInterpreterState_New",
    "Py_NewInterpreter",
)


@dataclass
class _Verdicts:
    problems: Dict[str, List[Problem]] = field(default_factory=dict)

    def add(self, path: str, problem: Problem) -> None:
        self.problems.setdefault(path, []).append(problem)


class SymbolCheck:
    """results.WheelCheck: collect every ELF file, then judge symbols across the whole wheel.

    ``severity`` is the config value ("error" or "warn"); ``interpreter`` the Python whose
    global scope modules will be imported into (default: the running one); ``wheel_tags``
    the wheel's tags or file name (``cp39-abi3-manylinux_2_17_x86_64``), and
    ``limited_api`` an explicit Stable ABI target ("3.9", "cp39", 0x03090000).
    ``missing_libraries`` "error" is strict mode (``--strict``, ``strict = true``): a
    DT_NEEDED that nothing checked here provides becomes an error. By default it is a
    warning, as ld.so decides: the name is satisfied by any object already loaded with
    that SONAME (another package's import, ctypes), or by the target system.
    ``loaded_first`` holds libraries of targets checked together with this one (the
    wheels of its dependencies), by name; ``libraries`` records, per file, where each
    DT_NEEDED was found (``--json``). ``notes`` collects what could not be checked.
    """

    def __init__(
        self,
        severity: str = "error",
        interpreter: Optional[str] = None,
        wheel_tags: Union[WheelTarget, Iterable[str]] = (),
        limited_api: Union[str, int, Tuple[int, int], None] = None,
        missing_libraries: str = "warn",
        environment: bool = False,
    ) -> None:
        self.severity = Severity.from_config(severity)
        self.missing_severity = self.severity if missing_libraries == "error" else WARNING
        self.interpreter = interpreter
        self.target = target = WheelTarget.parse(wheel_tags)
        # The C library the platform tags promise (musllinux_*: musl), for files that name none.
        self.wheel_libc: Optional[str] = target.libc
        self.abi3t_wheel = target.abi3t
        self.abi3_tagged = target.abi3
        self.abi3_wheel = target.stable_abi
        self.wheel_builds: Set[Build] = set(target.builds)
        self.limited_api: Optional[Version] = (
            parse_limited_api(limited_api) if limited_api is not None else target.floor
        )
        self.files: Dict[str, LoadedObject] = {}
        self.loaded_first: Dict[str, Tuple[str, LoadedObject]] = {}  # name -> (target, library)
        #: The files are an installed environment (site-packages): every library in it may
        #: have been loaded first by another distribution's import, so it satisfies any
        #: file's DT_NEEDED by name, as the libraries of wheels checked together do.
        self.environment = environment
        self.libraries: Dict[str, List[Dict[str, Optional[str]]]] = {}
        self.notes: List[str] = []
        #: abi3t modules' target: the wheel's, but never below 3.15, where abi3t begins.
        self.abi3t_target: Version = max(self.limited_api or ABI3T_MINIMUM, ABI3T_MINIMUM)
        if self.abi3t_wheel and self.limited_api is not None and self.limited_api < ABI3T_MINIMUM:
            claimed = f"cp{self.limited_api[0]}{self.limited_api[1]}-abi3t"
            self.notes.append(findings.note_abi3t_below_floor(claimed))
        #: Why undefined symbols could not be checked at all (the interpreter's global
        #: scope is unknown); None when they were. Logged at warning level and put in --json.
        self.unchecked: Optional[str] = None

    # -- WheelCheck
    def collect(self, path: str, src: ByteSource, info: ElfInfo) -> None:
        self.files[path] = make_object(path, True, src, info)

    def finish(self) -> Dict[str, List[Problem]]:
        out = _Verdicts()
        for obj in self.files.values():
            self._embedded_runtime(obj, out)
            self._stable_abi(obj, out)
        self._unresolved(out)
        return out.problems

    # -- embedded runtime
    def _embedded_runtime(self, obj: LoadedObject, out: _Verdicts) -> None:
        if obj.is_libpython or obj.is_executable:
            return
        found = [s for s in RUNTIME_MARKERS if obj.defines(s)]
        if not found:
            return
        out.add(obj.path, findings.embedded_runtime(found, self.severity))

    # -- stable ABI
    def _limited(self, obj: LoadedObject) -> bool:
        return is_abi3_name(obj.path) or (self.abi3_wheel and obj.has_module_init)

    def _abi3t(self, obj: LoadedObject) -> bool:
        """A free-threaded Stable ABI module: ``.abi3t.so``, or a module of a wheel tagged
        abi3t and not abi3 (``cp315-abi3.abi3t`` promises both: abi3's rules, same target)."""
        return is_abi3t_name(obj.path) or (
            self.abi3t_wheel and not self.abi3_tagged and not is_abi3_name(obj.path) and obj.has_module_init
        )

    def _abi_target(self, obj: LoadedObject) -> Optional[Version]:
        """The Stable ABI version a limited module is held to (abi3t: 3.15 at least)."""
        return self.abi3t_target if self._abi3t(obj) else self.limited_api

    def _stable_abi(self, obj: LoadedObject, out: _Verdicts) -> None:
        if not self._limited(obj):
            return
        table = load_stable_abi()
        target = self._abi_target(obj)
        abi3t = self._abi3t(obj)
        for sym in obj.undefined:
            if not is_python_symbol(sym):
                continue
            item = table.get(sym)
            if item is None or not item.on_linux:
                out.add(obj.path, findings.not_stable_abi(sym, abi3t, self.severity))
            elif target is not None and item.added > target:
                out.add(obj.path, findings.newer_stable_abi(sym, abi3t, target, item.added, self.severity))

    # -- unresolved symbols
    def _python_symbols_checkable(self, obj: LoadedObject, scope: InterpreterScope) -> bool:
        """Only judge Py*/_Py* symbols when the wheel was built for the checking interpreter."""
        build = scope.build
        if build is None or not scope.exports_python:
            return False
        if self._limited(obj):
            target = self._abi_target(obj)
            # abi3 does not load in a free-threaded build (3.15t dropped .abi3.so); abi3t
            # loads in both builds of 3.15+ (a GIL 3.15 imports .abi3t.so too).
            if "t" in build[1] and not self._abi3t(obj):
                return False
            return target is None or build[0] >= target
        mine = file_python_build(obj.path)
        if mine is not None:
            return mine == build
        builds = set(self.wheel_builds)
        builds.update(b for b in (file_python_build(p) for p in self.files) if b is not None)
        return not builds or build in builds

    def _judged_by(self, obj: LoadedObject) -> str:
        """The interpreter that would judge ``obj``'s Py* symbols, as people name it: a
        module built for a free-threaded build is never judged by a GIL build's exports."""
        if self._limited(obj):
            target = self._abi_target(obj)
            since = f"{format_version(target)} or newer" if target else "3.2 or newer"
            if self._abi3t(obj):
                return f"CPython {since} (abi3t: free-threaded or GIL-enabled)"
            return f"a GIL-enabled CPython {since} (abi3; free-threaded builds do not load it)"
        mine = file_python_build(obj.path)
        builds = sorted({mine} if mine else self.wheel_builds | {
            b for b in (file_python_build(p) for p in self.files) if b is not None})
        return " or ".join(_describe_build(b) for b in builds) or "another Python"

    def _scope(self) -> Optional[InterpreterScope]:
        """The interpreter's global scope, or None (with a note) when it cannot be known."""
        try:
            scope = interpreter_scope(self.interpreter)
        except (OSError, ElfReadError) as exc:
            why = findings.unreadable_interpreter(self.interpreter or sys.executable, exc)
        else:
            if not scope.missing:
                if not scope.exports_python:
                    self.notes.append(findings.note_no_python_exports(scope.path))
                return scope
            name, requester = scope.missing[0]
            why = findings.unknown_scope(scope.path, name, requester)
        self.unchecked = why
        self.notes.append(findings.note_symbols_not_checked(why))
        return None

    def _libc(self, obj: LoadedObject) -> Optional[str]:
        return syslibs.libc_of(obj.needed, obj.interp) or self.wheel_libc

    def _hosts(self) -> List[LoadedObject]:
        """Programs of the wheel that statically embed CPython and export its API: the
        process that loads the wheel's modules is one of them (frozen applications)."""
        return [
            o for o in self.files.values()
            if o.is_executable and o.defines("Py_Initialize") and o.defines("PyObject_GetAttr")
        ]

    def _unresolved(self, out: _Verdicts) -> None:
        scope = self._scope() if self.files else None
        if scope is None:
            return
        libc = syslibs.libc_of(tuple(scope.loaded), None)
        others = [
            o for o in self.files.values()
            if o.elf_class != scope.elf_class or o.machine != scope.machine
            or (libc is not None and self._libc(o) not in (None, libc))
        ]
        if others:
            theirs = ", ".join(sorted({_target(o.elf_class, o.machine, self._libc(o)) for o in others}))
            self.notes.append(findings.note_other_machine(
                len(others), theirs, scope.path, _target(scope.elf_class, scope.machine, libc)))
            self._foreign_missing(others, out)
        resolver = Resolver(self.files, scope.elf_class, scope.machine)
        targets = [o for o in self.files.values() if o not in others]
        hosts = [h for h in self._hosts() if h in targets]
        for host in hosts:
            self.notes.append(findings.note_python_host(host.path))
        # Only a library this process could have loaded: same class and machine as the interpreter.
        first = {name: lib for name, (_t, lib) in self.loaded_first.items()
                 if lib.elf_class == scope.elf_class and lib.machine == scope.machine}
        if self.environment:
            for lib in self.files.values():
                if not lib.is_executable and not lib.has_module_init:
                    for name in filter(None, (lib.soname, posixpath.basename(lib.path))):
                        first.setdefault(name, lib)
        closures = {
            o.path: load_closure(o, resolver, None if o.is_executable else {**first, **scope.loaded})
            for o in targets
        }
        for o in targets:
            self._record_libraries(o, closures[o.path], scope.loaded)
        host_closures = [closures[h.path] for h in hosts]
        # A library that a module loads is resolved in that module's scope too (dlopen's local
        # scope): for each wheel library, the closures of the files that load it.
        loaded_by: Dict[str, List[Closure]] = {}
        for obj in targets:
            if not obj.is_executable:
                for dep in closures[obj.path].objects[1:]:
                    if dep.in_wheel:
                        loaded_by.setdefault(dep.path, []).append(closures[obj.path])
        skipped_py: Dict[str, int] = {}
        for obj in targets:
            contexts = loaded_by.get(obj.path, [])
            skipped = self._judge(obj, closures[obj.path], contexts, scope, out,
                                  [] if obj.is_executable else host_closures)
            if skipped:
                who = self._judged_by(obj)
                skipped_py[who] = skipped_py.get(who, 0) + skipped
        mine = _describe_build(scope.build) if scope.build else "Python ?"
        for who, count in skipped_py.items():
            self.notes.append(findings.note_python_symbols_skipped(count, who, mine, scope.path))

    def _foreign_missing(self, others: List[LoadedObject], out: _Verdicts) -> None:
        """Files for another machine or libc: this machine's libraries say nothing about them,
        but a non-system library that the wheel does not carry is still worth a warning."""
        for obj in others:
            resolver = Resolver(self.files, obj.elf_class, obj.machine, search_system=False)
            closure = load_closure(obj, resolver)
            for name, requester in dict.fromkeys(closure.missing):
                if is_libpython_filename(name) or syslibs.is_system_library(name) or name in self.loaded_first:
                    continue
                out.add(obj.path, findings.nothing_provides(
                    name, requester, WARNING, foreign=True, checked_with=bool(self.loaded_first)))

    def _judge(
        self, obj: LoadedObject, own: Closure, contexts: List[Closure], scope: InterpreterScope, out: _Verdicts,
        hosts: Sequence[Closure] = (),
    ) -> int:
        """Report what ``obj`` cannot resolve; returns how many Py* symbols were left unjudged."""
        # A library some module loads is judged in that module's scope; its own missing
        # dependencies are then reported on the module (auditwheel's DT_RPATH case).
        for name, requester in dict.fromkeys([] if contexts else own.missing):
            if is_libpython_filename(name):
                continue  # already a needs-libpython violation; one finding per cause
            if syslibs.is_system_library(name):  # never advise bundling a C library
                out.add(obj.path, findings.missing_system_library(name, requester))
                continue
            out.add(obj.path, self._missing_library(name, requester))
        if own.missing and not any(not c.missing for c in contexts):
            return 0  # some provider is unknown: no verdict rather than a wrong one
        keyed = [(s, symbol_key(s)) for s in obj.undefined]
        if not obj.is_executable:  # a program has no interpreter around it
            keyed = [(s, k) for s, k in keyed if k not in scope.exports]
        for closure in (own, *contexts):
            for provider in closure.objects:
                if not keyed:
                    break
                keyed = [(s, k) for s, k in keyed if k not in provider.defined]
        if hosts and keyed:
            in_host = [(s, k) for s, k in keyed if any(k in p.defined for h in hosts for p in h.objects)]
            keyed = [sk for sk in keyed if sk not in in_host]
            if in_host:
                self._report_host_only(obj, [s for s, _k in in_host], scope, [h.objects[0].path for h in hosts], out)
        py_ok = obj.is_executable or self._python_symbols_checkable(obj, scope)
        unresolved = [s for s, _k in keyed if py_ok or not is_python_symbol(s)]
        self._report_unresolved(obj, unresolved, scope, out, [h.objects[0].path for h in hosts])
        return len(keyed) - len(unresolved)

    def _missing_library(self, name: str, requester: str) -> Problem:
        """A DT_NEEDED nothing checked here provides. ld.so satisfies a needed name from any
        object already loaded with that SONAME, so whether the import works depends on what
        ran first (the package's ctypes preload, a dependency's import) or on the target
        system: a warning, never a bundling advice; an error only in strict mode.
        Programs stay warnings: no import preloads anything for them, and a wheel's
        program that cannot start (a test binary, say) does not break its modules."""
        req = self.files.get(requester)
        program = req is not None and req.is_executable
        severity = WARNING if program else self.missing_severity
        shipped = sorted(p for p in self.files if posixpath.basename(p) == name)
        if shipped:  # the wheel has it, where this file's search path does not look
            return findings.unreached_library(name, requester, shipped[0], program, severity)
        return findings.nothing_provides(name, requester, severity, program=program,
                                         checked_with=bool(self.loaded_first))

    def _record_libraries(self, obj: LoadedObject, closure: Closure, interpreter: Mapping[str, LoadedObject]) -> None:
        """Where each DT_NEEDED of ``obj`` was found, for ``--json``."""
        found = {name: dep for name, requester, dep in closure.found if requester == obj.path}
        rows: List[Dict[str, Optional[str]]] = []
        for name in obj.needed:
            dep = found.get(name)
            if dep is None:
                rows.append({"name": name, "found_in": "nowhere", "path": None})
            elif name in self.loaded_first and self.loaded_first[name][1] is dep:
                target = self.loaded_first[name][0]
                rows.append({"name": name, "found_in": "checked-with", "path": f"{target}: {dep.path}"})
            elif dep.in_wheel:
                rows.append({"name": name, "found_in": "wheel", "path": dep.path})
            elif interpreter.get(name) is dep:
                rows.append({"name": name, "found_in": "interpreter", "path": dep.path})
            else:
                rows.append({"name": name, "found_in": "system", "path": dep.path})
        self.libraries[obj.path] = rows

    def _elsewhere(self, obj: LoadedObject, sym: str) -> Optional[str]:
        """Another file of the wheel that exports ``sym`` although ``obj`` does not load it."""
        key = symbol_key(sym)
        # A program cannot be linked (it has no SONAME): never offer one as a provider.
        return next(
            (o.path for o in self.files.values() if o is not obj and not o.is_executable and key in o.defined), None
        )

    def _report_host_only(
        self, obj: LoadedObject, syms: List[str], scope: InterpreterScope, hosts: Sequence[str], out: _Verdicts
    ) -> None:
        """Symbols only the wheel's own Python host defines: the module loads inside that
        program (its real host), but an import in this interpreter fails. A warning: which
        of the two loads the module is the wheel author's design, not readable from the files."""
        release = interpreter_release(self.interpreter) or (format_version(scope.version) if scope.version else "?")
        out.add(obj.path, findings.host_only_symbols(
            obj.path, syms, hosts, scope.path, release, is_python_symbol(syms[0])))

    def _report_unresolved(
        self, obj: LoadedObject, syms: List[str], scope: InterpreterScope, out: _Verdicts, hosts: Sequence[str] = ()
    ) -> None:
        pyver = format_version(scope.version) if scope.version else "?"
        listed = 0
        hard: List[str] = []
        for sym in syms:
            other = self._elsewhere(obj, sym) if len(syms) <= MAX_LISTED * 5 else None
            if other is None:
                hard.append(sym)
                continue
            # Works only if the package loads ``other`` first with RTLD_GLOBAL (ctypes, torch's
            # libtorch_global_deps): not provable from the binaries, so a warning, never an error.
            if listed < MAX_LISTED:
                listed += 1
                out.add(obj.path, findings.preload_only_symbol(obj.path, sym, other))
        syms = hard
        for sym in syms[:MAX_LISTED]:
            python_fix = None
            if is_python_symbol(sym):  # private ones change within X.Y (patch releases)
                release = interpreter_release(self.interpreter) or pyver
                python_fix = findings.python_symbol_fix(sym, scope.path, release, pyver)
            out.add(obj.path, findings.unresolved_symbol(
                obj.path, sym, self.severity, obj.is_executable, hosts, python_fix))
        if len(syms) > MAX_LISTED:
            out.add(obj.path, findings.more_unresolved(syms[MAX_LISTED:], self.severity))


def _describe_build(build: Build) -> str:
    """``CPython 3.14t (free-threaded, python3.14t)`` for ((3, 14), "t")."""
    (major, minor), flags = build
    kinds = [k for f, k in (("t", "free-threaded"), ("d", "debug")) if f in flags]
    exe = f"python{major}.{minor}{flags}"
    return f"CPython {major}.{minor}{flags} ({', '.join([*kinds, exe])})"


def _target(elf_class: int, machine: str, libc: Optional[str]) -> str:
    """A machine as people name it: "64-bit AArch64, musl" (pyelftools names the e_machine)."""
    return f"{elf_class}-bit {describe_machine(machine)}" + (f", {libc}" if libc else "")


def symbol_checks(settings: Optional[SymbolSettings]) -> Tuple[SymbolCheck, ...]:
    """The one factory of whole-wheel symbol checks, for the build and the CLI alike: a
    fresh check per scan, made from its settings (None: no check).

    Imported without an ImportError guard on purpose: a broken symbols/ldso/interpreter
    module must fail loudly, never turn the check off and let every build pass.
    ``missing_libraries`` "error" is strict mode; a build leaves unbundled libraries to
    auditwheel. ``environment``: the files are an installed environment (SymbolCheck.environment).
    """
    if settings is None:
        return ()
    return (SymbolCheck(severity=settings.severity, interpreter=settings.interpreter,
                        wheel_tags=settings.wheel_tags, missing_libraries=settings.missing_libraries,
                        environment=settings.environment),)


class Provided(NamedTuple):
    """A library one target ships, offered to the targets checked with it under ``name``
    (its SONAME, or its file name)."""

    name: str
    target: str
    library: LoadedObject


def provided_libraries(target: str, checks: Iterable[object]) -> Tuple[Provided, ...]:
    """The libraries ``target`` ships (after it was collected), as another package sees them
    once this one was imported: with no DT_NEEDED of their own (those were loaded in this
    package's layout, not the other's). Plain data, so a worker process can hand it on."""
    out: List[Provided] = []
    for check in checks:
        if not isinstance(check, SymbolCheck):
            continue
        for lib in check.files.values():
            if lib.is_executable or lib.has_module_init:
                continue
            shown = dataclasses.replace(lib, needed=(), in_wheel=False, ident=f"{target}!{lib.path}")
            names = filter(None, (lib.soname, posixpath.basename(lib.path)))
            out.extend(Provided(name, target, shown) for name in names)
    return tuple(out)


def offer_libraries(checks: Iterable[object], provided: Iterable[Provided]) -> None:
    """Targets checked in one call (a package and its dependencies' wheels): a library that
    another ships satisfies a DT_NEEDED by name, as ld.so does once the dependency was
    imported; the first target to offer a name wins. Call before the target is finished."""
    for check in checks:
        if isinstance(check, SymbolCheck):
            for p in provided:
                check.loaded_first.setdefault(p.name, (p.target, p.library))
