#!/usr/bin/env bash
# `make demo`: build sample_project with `pip wheel` (build isolation on, the plugin from
# a freshly built local wheel), print the scan report, import the module: in the
# interpreter that built it, and in Debian's python3.11 with libpython made unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
work=.cache/demo
rm -rf "$work" sample_project/build sample_project/src/*.egg-info
mkdir -p "$work/wheelhouse" "$work/dist"

echo "== 1. the plugin, built from this checkout"
$PY -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheelhouse" . > "$work/plugin-build.log" 2>&1 \
  || { cat "$work/plugin-build.log"; exit 1; }
ls "$work/wheelhouse"

echo
echo "== 2. pip wheel sample_project (asks for libpython: libraries=[python3.X], -Wl,-z,defs)"
$PY -m pip wheel -v --no-deps --find-links "$work/wheelhouse" -w "$work/dist" ./sample_project \
  > "$work/pip-wheel.log" 2>&1 || { tail -40 "$work/pip-wheel.log"; exit 1; }
grep -E "^ *setuptools-nolibpython: " "$work/pip-wheel.log" | sed "s/^ *//"
wheel=$(ls "$work"/dist/nolibpython_demo-*.whl)

echo
echo "== 3. scan report of the wheel"
$PY -m setuptools_nolibpython check "$wheel"
echo "readelf -d of the module:"
$PY - "$wheel" <<'PYEOF'
import subprocess, sys, tempfile, zipfile
with tempfile.TemporaryDirectory() as d, zipfile.ZipFile(sys.argv[1]) as zf:
    so = next(n for n in zf.namelist() if n.endswith(".so"))
    zf.extract(so, d)
    out = subprocess.run(["readelf", "-dW", f"{d}/{so}"], capture_output=True, text=True).stdout
    lines = [l.strip() for l in out.splitlines() if "NEEDED" in l or "PATH" in l]
    print("  " + ("\n  ".join(lines) if lines else "(no DT_NEEDED, no RPATH/RUNPATH: nothing to find at import time)"))
PYEOF

echo
echo "== 4. import it"
target="$work/site"
$PY -m pip install -q --no-deps --target "$target" "$wheel"
$PY -c "import sys; sys.path.insert(0, '$target'); import nolibpython_demo as m; print('  built-by interpreter:', m.add(2, 40), m.runtime_version().split()[0])"
if [[ -x /usr/bin/python3.11 && "$($PY -c 'import sys; print(sys.version_info[:2] == (3, 11))')" == True ]]; then
  if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
    tests/support/without_libpython.sh /usr/bin/python3.11 -I -c \
      "import sys; sys.path.insert(0, '$target'); import nolibpython_demo as m; print('  Debian python3.11, libpython hidden:', m.add(2, 40), m.runtime_version().split()[0])"
  else
    /usr/bin/python3.11 -I -c "import sys; sys.path.insert(0, '$target'); import nolibpython_demo as m; print('  Debian python3.11:', m.add(2, 40))"
  fi
fi
echo
echo "demo: OK"
