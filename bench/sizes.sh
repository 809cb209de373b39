#!/usr/bin/env bash
# Bundle sizes: the same apps in each format and profile, next to a plain tar of the venv and
# Debian's own packages. Apps: hello (no packages), a Flask service (flask, requests), numpy;
# venvs of pyenv's CPython 3.11 (x86_64), and the Flask service assembled from pins on Debian's
# arm64 CPython (rpios-bookworm-aarch64). Usage: bench/sizes.sh [RVENV_BINARY]
set -euo pipefail
rvenv="$(realpath "${1:-target/release/rvenv}")"
python="${PYENV_ROOT:-$HOME/.pyenv}/versions/3.11.7/bin/python3.11"
work="$(mktemp -d /tmp/rvenv-bench-sizes-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export SOURCE_DATE_EPOCH=1700000000
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
small=(--no-pycache --strip-tests --exclude idlelib/ --exclude tkinter/ --exclude turtledemo/
  --exclude ensurepip/ --exclude '**/site-packages/pip/' --exclude '**/site-packages/pip-*'
  --exclude '**/site-packages/setuptools/' --exclude '**/site-packages/setuptools-*'
  --exclude '**/site-packages/_distutils_hack/' --exclude 'distutils-precedence.pth'
  --exclude '**/site-packages/pkg_resources/' --strip-debug)
declare -A pkgs=([hello]="" [flask]="flask==3.1.3 requests" [numpy]="numpy==1.26.4")
echo "| app | what | tar.gz | tar.zst (-19) | tar.xz |"
echo "|:---|:---|---:|---:|---:|"
for app in hello flask numpy; do
  "$python" -m venv "$app" >/dev/null
  [ -z "${pkgs[$app]}" ] || "$app/bin/pip" install -q --disable-pip-version-check ${pkgs[$app]}
  tar -czf "$app-venv.tar.gz" "$app"
  echo "| $app | \`tar -czf\` of the venv alone (no interpreter) | $(mb "$app-venv.tar.gz") | | |"
  for profile in default small; do
    extra=(); [ "$profile" = small ] && extra=("${small[@]}")
    row="| $app | rvenv bundle, $profile |"
    for fmt in tar.gz tar.zst tar.xz; do
      level=(); [ "$fmt" = tar.zst ] && level=(--level 19)
      "$rvenv" bundle "$app" -q -o "$app-$profile.$fmt" "${level[@]}" "${extra[@]}"
      row+=" $(mb "$app-$profile.$fmt") |"
    done
    echo "$row"
  done
done
# The Flask service from pins, on Debian's arm64 CPython (no venv, no static libpython).
"$work/flask/bin/pip" freeze --all > req.txt
for profile in default small; do
  extra=(); [ "$profile" = small ] && extra=("${small[@]}")
  row="| flask | assembled on Debian's arm64 CPython (rpios-bookworm-aarch64), $profile |"
  for fmt in tar.gz tar.zst tar.xz; do
    level=(); [ "$fmt" = tar.zst ] && level=(--level 19)
    "$rvenv" bundle --target rpios-bookworm-aarch64 -r req.txt -q -o "deb-$profile.$fmt" "${level[@]}" "${extra[@]}"
    row+=" $(mb "deb-$profile.$fmt") |"
  done
  echo "$row"
done
cache="${RVENV_PYTHON_CACHE:-$HOME/.cache/rvenv/python}"
total=0
for deb in $(jq -r '.packages[].size' "$cache"/pythons/debian-bookworm-arm64-python3.11/rvenv-python.json); do
  total=$((total + deb))
done
echo "| - | Debian's python3.11-minimal + libpython3.11-minimal + libpython3.11-stdlib .debs (arm64) | $(awk -v b=$total 'BEGIN { printf "%.1f", b / 1048576 }') (xz .debs) | | |"
