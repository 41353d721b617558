#!/usr/bin/env bash
# `make demo`: the problem, then the fix. sample_project asks for libpython the way real
# projects do. Built WITHOUT the plugin (the negative control) its module needs
# libpython3.X.so.1.0 and fails to import in Debian's python3.11 with libpython hidden;
# built WITH the plugin (`pip wheel`, build isolation on, the plugin from a freshly built
# local wheel) it needs nothing, passes the scan and imports in both interpreters.
# tests/test_demo.py runs this script and checks that order.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
work=.cache/demo
rm -rf "$work" sample_project/build sample_project/src/*.egg-info
mkdir -p "$work/wheelhouse" "$work/control" "$work/dist"

# Debian's static interpreter with every libpython hidden (tests/support/without_libpython.sh
# needs root and unshare); only meaningful when the built-by interpreter is a 3.11 too.
debian=""
if [[ -x /usr/bin/python3.11 && "$($PY -c 'import sys; print(sys.version_info[:2] == (3, 11))')" == True ]]; then
  debian=/usr/bin/python3.11
fi
hidden=""
if [[ -n $debian && $(id -u) == 0 ]] && command -v unshare >/dev/null; then
  hidden=tests/support/without_libpython.sh
fi

# needed_lines WHEEL: the DT_NEEDED and RPATH/RUNPATH lines of the wheel's module (readelf -dW).
needed_lines() {
  $PY - "$1" <<'PYEOF'
import subprocess, sys, tempfile, zipfile
with tempfile.TemporaryDirectory() as d, zipfile.ZipFile(sys.argv[1]) as zf:
    so = next(n for n in zf.namelist() if n.endswith(".so"))
    zf.extract(so, d)
    out = subprocess.run(["readelf", "-dW", f"{d}/{so}"], capture_output=True, text=True, check=True).stdout
    lines = [l.strip() for l in out.splitlines() if "NEEDED" in l or "PATH" in l]
    print("  " + ("\n  ".join(lines) if lines else "(no DT_NEEDED, no RPATH/RUNPATH: nothing to find at import time)"))
PYEOF
}

IMPORT="import nolibpython_demo as m; print(m.add(2, 40), m.runtime_version().split()[0])"

echo "== 1. the plugin, built from this checkout"
$PY -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheelhouse" . > "$work/plugin-build.log" 2>&1 \
  || { cat "$work/plugin-build.log"; exit 1; }
ls "$work/wheelhouse"

echo
echo "== 2. the problem: pip wheel sample_project WITHOUT the plugin (SETUPTOOLS_NOLIBPYTHON=0)"
SETUPTOOLS_NOLIBPYTHON=0 $PY -m pip wheel -q --no-deps --find-links "$work/wheelhouse" -w "$work/control" \
  ./sample_project > "$work/control-build.log" 2>&1 || { tail -40 "$work/control-build.log"; exit 1; }
rm -rf sample_project/build sample_project/src/*.egg-info
control=$(ls "$work"/control/nolibpython_demo-*.whl)
echo "readelf -d of the module:"
needed_lines "$control"
if [[ -n $hidden ]]; then
  $PY -m pip install -q --no-deps --target "$work/control-site" "$control"
  echo "import in Debian's python3.11 with libpython hidden:"
  if $hidden "$debian" -I -c "import sys; sys.path.insert(0, '$work/control-site'); $IMPORT" \
      > "$work/control-import.log" 2>&1; then
    echo "demo: the control imported although libpython was hidden; the demo shows nothing" >&2
    exit 1
  fi
  echo "  $(grep -E '^ImportError' "$work/control-import.log" | tail -1)"
elif [[ -n $debian ]]; then
  echo "(the import with libpython hidden needs root and unshare: not shown here)"
fi

echo
echo "== 3. the fix: pip wheel sample_project WITH the plugin (enable = true in its pyproject.toml)"
$PY -m pip wheel -v --no-deps --find-links "$work/wheelhouse" -w "$work/dist" ./sample_project \
  > "$work/pip-wheel.log" 2>&1 || { tail -40 "$work/pip-wheel.log"; exit 1; }
grep -E "^ *setuptools-nolibpython: " "$work/pip-wheel.log" | sed "s/^ *//"
wheel=$(ls "$work"/dist/nolibpython_demo-*.whl)

echo
echo "== 4. scan report of the wheel"
$PY -m setuptools_nolibpython check "$wheel"
echo "readelf -d of the module:"
needed_lines "$wheel"

echo
echo "== 5. import it"
target="$work/site"
$PY -m pip install -q --no-deps --target "$target" "$wheel"
$PY -c "import sys; sys.path.insert(0, '$target'); print('  built-by interpreter:', end=' '); $IMPORT"
if [[ -n $hidden ]]; then
  $hidden "$debian" -I -c \
    "import sys; sys.path.insert(0, '$target'); print('  Debian python3.11, libpython hidden:', end=' '); $IMPORT"
elif [[ -n $debian ]]; then
  $debian -I -c "import sys; sys.path.insert(0, '$target'); print('  Debian python3.11:', end=' '); $IMPORT"
fi
echo
echo "demo: OK"
