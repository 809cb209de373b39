#!/usr/bin/env bash
# Bundle sizes: the same apps in each format and profile, next to a plain tar of the venv and
# Debian's own packages. Apps: hello (no packages), a command-line app (click, requests), a
# Flask service (flask, requests), numpy; venvs of pyenv's CPython 3.11 (x86_64), and the
# click and Flask apps assembled from pins on Debian's arm64 CPython (rpios-bookworm-aarch64).
# Profiles: default, --slim, --slim --no-pycache. Usage: bench/sizes.sh [RVENV_BINARY]
set -euo pipefail
rvenv="$(realpath "${1:-target/release/rvenv}")"
python="${PYENV_ROOT:-$HOME/.pyenv}/versions/3.11.7/bin/python3.11"
work="$(mktemp -d /tmp/rvenv-bench-sizes-XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export SOURCE_DATE_EPOCH=1700000000
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
declare -A pkgs=([hello]="" [cli]="click==8.1.8 requests==2.32.3" [flask]="flask==3.1.3 requests==2.32.3" [numpy]="numpy==1.26.4")
declare -A profiles=([default]="" [slim]="--slim" [slim-nopyc]="--slim --no-pycache")
profile_names=(default slim slim-nopyc)
echo "| app | what | tar.gz | tar.zst (-19) | tar.xz |"
echo "|:---|:---|---:|---:|---:|"
for app in hello cli flask numpy; do
  "$python" -m venv "$app" >/dev/null
  [ -z "${pkgs[$app]}" ] || "$app/bin/pip" install -q --disable-pip-version-check ${pkgs[$app]}
  tar -czf "$app-venv.tar.gz" "$app"
  echo "| $app | \`tar -czf\` of the venv alone (no interpreter) | $(mb "$app-venv.tar.gz") | | |"
  for profile in "${profile_names[@]}"; do
    read -ra extra <<< "${profiles[$profile]}"
    row="| $app | rvenv bundle, ${profiles[$profile]:-default} |"
    for fmt in tar.gz tar.zst tar.xz; do
      level=(); [ "$fmt" = tar.zst ] && level=(--level 19)
      "$rvenv" bundle "$app" -q -o "$app-$profile.$fmt" "${level[@]}" "${extra[@]}"
      row+=" $(mb "$app-$profile.$fmt") |"
    done
    echo "$row"
  done
done
# The click and Flask apps from pins, on Debian's arm64 CPython (no venv, no static libpython).
for app in cli flask; do
  mkdir -p "pins-$app"
  "$work/$app/bin/pip" freeze --all > "pins-$app/requirements.txt"
  for profile in "${profile_names[@]}"; do
    read -ra extra <<< "${profiles[$profile]}"
    row="| $app | assembled on Debian's arm64 CPython (rpios-bookworm-aarch64), ${profiles[$profile]:-default} |"
    for fmt in tar.gz tar.zst tar.xz; do
      level=(); [ "$fmt" = tar.zst ] && level=(--level 19)
      "$rvenv" bundle --target rpios-bookworm-aarch64 -r "pins-$app/requirements.txt" -q -o "deb-$app-$profile.$fmt" "${level[@]}" "${extra[@]}"
      row+=" $(mb "deb-$app-$profile.$fmt") |"
    done
    echo "$row"
  done
done
cache="${RVENV_PYTHON_CACHE:-$HOME/.cache/rvenv/python}"
total=0
for deb in $(jq -r '.packages[].size' "$cache"/pythons/debian-bookworm-arm64-python3.11/rvenv-python.json); do
  total=$((total + deb))
done
echo "| - | Debian's python3.11-minimal + libpython3.11-minimal + libpython3.11-stdlib .debs (arm64) | $(awk -v b=$total 'BEGIN { printf "%.1f", b / 1048576 }') (xz .debs) | | |"
