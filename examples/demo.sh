#!/usr/bin/env bash
# The main job on a default example: make a small venv with a console-script package, bundle it,
# extract it somewhere else, and run it from there with the original venv moved away.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python="${PYTHON:-python3}"
echo "== a venv with a console script, made by $python"
"$python" -m venv "$work/build/app"
"$python" "$repo/tests/fixtures/make_wheel.py" "$work" >/dev/null
"$work/build/app/bin/pip" install -q --no-index --no-deps --disable-pip-version-check "$work"/rvenv_demo-*.whl

# The first build compiles about 200 crates (several minutes on two cores): cargo's own lines
# show it going; later runs only check that nothing changed.
echo "== building rvenv (cargo build --release; the first build takes several minutes)"
cargo build --release --manifest-path "$repo/Cargo.toml"
echo "== rvenv bundle"
"$repo/target/release/rvenv" bundle "$work/build/app" -o "$work/app.tar.gz"
ls -l "$work/app.tar.gz"

echo "== extracted elsewhere; the original venv is gone"
mv "$work/build" "$work/build.moved"
mkdir -p "$work/elsewhere/opt"
tar -xzf "$work/app.tar.gz" -C "$work/elsewhere/opt"
cd /
"$work/elsewhere/opt/app/bin/rvenv-demo"
"$work/elsewhere/opt/app/bin/python3" -c 'import sys, ssl, sqlite3; print("sys.prefix =", sys.prefix)'
ln -s "$work/elsewhere/opt/app/bin/rvenv-demo" "$work/app-link"
"$work/app-link"
bash -c "source '$work/elsewhere/opt/app/bin/activate' && echo \"activated: \$(command -v python3)\""
