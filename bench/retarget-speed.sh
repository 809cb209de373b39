#!/usr/bin/env bash
# The route from the venv where the app works to a bundle for the board: an x86-64 venv of
# pyenv's CPython 3.11 with Flask, requests and psutil 5.9.8 (no armv7 wheel on PyPI), retargeted
# to debian-12-armv7. Cold: rvenv's interpreter and build caches and pip's cache empty (the
# network is read: the Debian mirror of this machine's apt sources, PyPI). Warm: all caches kept.
# Usage: bench/retarget-speed.sh [RVENV_BINARY]
set -euo pipefail
rvenv="$(realpath "${1:-target/release/rvenv}")"
python="${PYENV_ROOT:-$HOME/.pyenv}/versions/3.11.7/bin/python3.11"
work="$(mktemp -d /tmp/rvenv-bench-retarget-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if [ -z "${ONLY_EMULATED:-}" ]; then
"$python" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check flask==3.1.3 requests psutil==5.9.8
export RVENV_PYTHON_CACHE="$work/python-cache" RVENV_BUILD_CACHE="$work/builds" PIP_CACHE_DIR="$work/pip-cache"
cmd="$rvenv bundle .venv --target debian-12-armv7 -o app.tar.gz -q"
hyperfine --runs 3 --export-markdown cold.md \
  --prepare "rm -rf $work/python-cache $work/builds $work/pip-cache app.tar.gz" \
  -n 'rvenv bundle .venv --target debian-12-armv7 (cold caches)' "$cmd"
hyperfine --runs 5 --warmup 1 --export-markdown warm.md \
  --prepare "rm -f app.tar.gz" \
  -n 'rvenv bundle .venv --target debian-12-armv7 (warm caches)' "$cmd"
# Where a warm run's time goes: the pip download of the missing wheels (pip's own start-up and
# index queries) against the rest.
$rvenv bundle .venv --target debian-12-armv7 -o app.tar.gz -v 2>&1 | tail -4
ls -l app.tar.gz
cat cold.md warm.md
fi

# The route users take today, in the same run: pip inside an emulated Debian armhf root
# (what `docker buildx --platform linux/arm/v7` with QEMU does), made with mmdebstrap; needs
# root and binfmt_misc with qemu-arm registered (as tests/it/board.rs's chroot tests leave it).
if [ -z "${SKIP_EMULATED:-}" ] && [ "$(id -u)" = 0 ] && command -v mmdebstrap >/dev/null; then
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  /usr/bin/time -f "emulated: making the armhf root (python3-venv, python3-dev, gcc): %e s" \
    mmdebstrap -q --architectures=armhf --variant=apt \
      --include=python3-venv,python3-pip,python3-dev,gcc,ca-certificates bookworm "$work/root" "$mirror"
  # This machine's CA bundle (and pip's settings), as a build container would be given them.
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  /usr/bin/time -f "emulated: python3 -m venv, pip install flask requests psutil==5.9.8 (psutil built under qemu): %e s" \
    chroot "$work/root" /usr/bin/env -u PIP_FIND_LINKS PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -c 'python3 -m venv /app && /app/bin/pip install -q --disable-pip-version-check flask==3.1.3 requests psutil==5.9.8'
  chroot "$work/root" /app/bin/python -c 'import psutil, platform; print("emulated route ok:", platform.machine(), psutil.cpu_count())'
fi
