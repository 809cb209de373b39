#!/usr/bin/env bash
# Measures what the ELF check costs: `rvenv check` on its own, and `rvenv bundle` (which runs the
# same check before writing), against `tar -czf` of the same venv, with hyperfine, on this
# machine. Builds a realistic venv from PyPI (numpy, pandas, scipy, pillow,
# opencv-python-headless, flask, requests, pyyaml) with the machine's python3.
#
# Usage: bench/check-cost.sh [WORKDIR]   (prints a Markdown section on stdout)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
venv="$work/app"
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
    numpy pandas scipy pillow opencv-python-headless flask requests pyyaml
fi
cargo build -q --release --manifest-path "$repo/Cargo.toml"
rvenv="$repo/target/release/rvenv"
size=$(du -sm "$venv" | cut -f1)
files=$(find "$venv" -type f | wc -l)
elfs=$({ "$rvenv" check "$venv" 2>/dev/null || true; } | sed -n 's/^checked \([0-9]*\) ELF.*/\1/p')
hyperfine --warmup 1 --runs 5 --export-markdown "$work/check.md" \
  -n "rvenv check" "$rvenv check $venv" \
  -n "rvenv bundle (check included)" "$rvenv bundle -q $venv -o $work/out.tar.gz" \
  -n "tar -czf (same venv)" "tar -czf $work/tar.tar.gz -C $work app" >&2
cat <<MD
### The ELF check (\`bench/check-cost.sh\`)

Venv: $size MB, $files files, $elfs ELF files (the machine's CPython $(/usr/bin/python3 -c 'import platform; print(platform.python_version())') with numpy, pandas,
scipy, pillow, opencv-python-headless, flask, requests, pyyaml from PyPI). Machine: $(nproc) cores,
$(uname -m), $(date -u +%Y-%m-%d). \`rvenv check\` plans the bundle (the venv plus the interpreter
and standard library) and inspects every binary, reading only each file's first bytes and
mapping the binaries; \`rvenv bundle\` runs the same check while it hashes every file, then
compresses.

$(cat "$work/check.md")
MD
