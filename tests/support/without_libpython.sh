#!/usr/bin/env bash
# Run a command with every libpython shared library made unavailable, for this command
# only: a private mount namespace (unshare -m, needs root) in which each directory that
# holds libpython*.so* is covered by an overlay whose upper dir holds whiteouts of those
# files (a whiteout is a character device 0:0 named like the file; both Debian's multiarch
# lib dir and the pyenv lib dir are covered, since RUNPATH finds the latter). Nothing on
# the machine changes.
set -euo pipefail
if [[ "${1:-}" != "--inside" ]]; then
  exec unshare -m -- "$0" --inside "$@"
fi
shift
mount --make-rprivate /
scratch=$(mktemp -d /tmp/nolibpython-overlay.XXXXXX)
mount -t tmpfs tmpfs "$scratch"
n=0
dirs=()
for d in /usr/lib/x86_64-linux-gnu /usr/lib /usr/local/lib /lib/x86_64-linux-gnu "${PYENV_ROOT:-/root/.pyenv}"/versions/*/lib; do
  [[ -d "$d" && ! -L "$d" ]] || continue
  real=$(readlink -f "$d")
  [[ " ${dirs[*]-} " == *" $real "* ]] && continue
  mapfile -t libs < <(find "$real" -maxdepth 1 -name 'libpython*.so*' -printf '%f\n')
  ((${#libs[@]})) || continue
  dirs+=("$real")
  n=$((n + 1))
  mkdir -p "$scratch/u$n" "$scratch/w$n"
  for f in "${libs[@]}"; do mknod "$scratch/u$n/$f" c 0 0; done
  mount -t overlay overlay -o "lowerdir=$real,upperdir=$scratch/u$n,workdir=$scratch/w$n" "$real"
done
exec "$@"
