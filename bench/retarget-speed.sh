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
