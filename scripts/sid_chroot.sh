#!/usr/bin/env bash
# Debian sid in a chroot, with Debian's own python3.14 and python3.15 (static executables,
# libpython3.1X.so.1.0 installed beside them), their -dev and -venv packages and gcc: the
# interpreters tests/test_matrix_sid.py proves the plugin on. Neither pyenv nor the
# package index has 3.14/3.15 here; sid does.
#
#   bash scripts/sid_chroot.sh          # as root; ~4 minutes and ~750 MB the first time
#
# Idempotent: a finished chroot is marked by DIR/.complete and reused as it is; an
# unfinished one (an interrupted run) is removed and made again. The directory is outside
# the repository: NOLIBPYTHON_SID_ROOT (default /var/cache/setuptools-nolibpython/sid).
# The Debian mirror is the one this machine's apt already uses (the URIs: line of its
# sources), so nothing here names a host.
set -euo pipefail
ROOT=${NOLIBPYTHON_SID_ROOT:-/var/cache/setuptools-nolibpython/sid}
PACKAGES=python3.14,python3.15,python3.14-dev,python3.15-dev,python3.14-venv,python3.15-venv,gcc,libc6-dev

if [[ $(id -u) != 0 ]]; then
  echo "sid_chroot.sh: debootstrap and chroot need root; run it as root" >&2
  exit 1
fi

# pip inside needs this machine's CA bundle and name server; refreshed on every run, since
# both may change while the chroot is kept.
refresh_host_files() {
  install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  # PIP_CERT for every shell and pip started inside (tests also pass it explicitly).
  printf 'PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n' > "$ROOT/etc/environment"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOT/etc/pip.conf"
}

if [[ -e "$ROOT/.complete" ]]; then
  refresh_host_files
  echo "sid_chroot.sh: $ROOT is ready (remove it to make it again)"
  exit 0
fi

mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -e "$f" ]] || continue
  # The first URIs: line of a source that serves the main archive (not -security).
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
  [[ -n "$mirror" ]] && break
done
if [[ -z "$mirror" ]]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
fi
if [[ -z "$mirror" ]]; then
  echo "sid_chroot.sh: no Debian mirror found in /etc/apt/sources.list.d/*.sources (URIs:) or /etc/apt/sources.list" >&2
  exit 1
fi

if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

rm -rf "$ROOT"
mkdir -p "$(dirname "$ROOT")"
echo "sid_chroot.sh: debootstrap sid into $ROOT from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$PACKAGES" sid "$ROOT" "$mirror"
refresh_host_files
for py in python3.14 python3.15; do
  chroot "$ROOT" "/usr/bin/$py" -c 'import sys; print(sys.version)' >/dev/null \
    || { echo "sid_chroot.sh: $ROOT/usr/bin/$py does not run" >&2; exit 1; }
done
touch "$ROOT/.complete"
echo "sid_chroot.sh: $ROOT is ready"
