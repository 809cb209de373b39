#!/usr/bin/env bash
# Remakes fuzz/seeds/{shebang,pyvenv_cfg,record,wheel_zip,tar_reader} from real files: venvs
# made by `python -m venv` (the machine's python3 and pyenv's CPythons, one in a path with a
# space, so pip writes its /bin/sh trampoline), their pip scripts, pyvenv.cfg and .dist-info
# files, the test wheels of tests/fixtures/make_wheel.py, and bundles made by rvenv (the
# start of a plain-tar bundle with its manifest, and the unsafe tarballs of
# tests/fixtures/unsafe_tar.py cut after their unsafe members).
#
#   fuzz/make-seeds.sh path/to/rvenv
#
# The seeds are committed; this script says where they came from. The corpora
# (fuzz/corpus/TARGET) grow from them by fuzzing and are minimised with `cargo fuzz cmin`.
set -eu
RVENV=$(realpath "$1")
cd "$(dirname "$0")/.."
SEEDS=$PWD/fuzz/seeds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$SEEDS"/{shebang,pyvenv_cfg,record,wheel_zip,tar_reader}

pythons=(/usr/bin/python3)
for v in 3.8 3.12 3.13; do
    p=$(ls -d /root/.pyenv/versions/$v.*/bin/python$v 2>/dev/null | head -n 1 || true)
    [ -n "$p" ] && pythons+=("$p")
done
for py in "${pythons[@]}"; do
    tag=$(basename "$(dirname "$(dirname "$py")")")
    [ "$tag" = usr ] && tag=system
    venv="$work/venv-$tag"
    "$py" -m venv "$venv"
    cp "$venv/pyvenv.cfg" "$SEEDS/pyvenv_cfg/$tag"
    for s in "$venv"/bin/pip*; do cp "$s" "$SEEDS/shebang/$tag-$(basename "$s")"; done
    cp "$venv/bin/activate" "$SEEDS/shebang/$tag-activate"
    info=$(ls -d "$venv"/lib/python3*/site-packages/pip-*.dist-info)
    for f in RECORD METADATA entry_points.txt WHEEL INSTALLER; do
        [ -f "$info/$f" ] && cp "$info/$f" "$SEEDS/record/$tag-pip-$f"
    done
done
# pip's trampoline for a venv whose path has a space in it.
"${pythons[0]}" -m venv "$work/with space"
cp "$work/with space/bin/pip" "$SEEDS/shebang/sh-trampoline-pip"
# An installed wheel's RECORD and entry points, and a direct_url.json of a local install.
"$work/venv-system/bin/pip" -q install --no-index "$(python3 tests/fixtures/make_wheel.py "$work")"
demo=$(ls -d "$work"/venv-system/lib/python3*/site-packages/rvenv_demo-*.dist-info)
for f in RECORD METADATA entry_points.txt direct_url.json; do
    [ -f "$demo/$f" ] && cp "$demo/$f" "$SEEDS/record/demo-$f"
done
for s in demo-console demo-gui demo-data-script; do
    [ -f "$work/venv-system/bin/$s" ] && cp "$work/venv-system/bin/$s" "$SEEDS/shebang/$s"
done
printf 'numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl' \
    >"$SEEDS/record/wheel-name"

# The test wheels, good and bad.
for variant in "" tampered unrecorded traversal absolute interpreter requires; do
    mkdir -p "$work/wheels/$variant"
    whl=$(python3 tests/fixtures/make_wheel.py "$work/wheels/$variant" $variant)
    cp "$whl" "$SEEDS/wheel_zip/${variant:-good}.whl"
done

# Bundles: the relocatable scripts and pyvenv.cfg rvenv writes, the start of the tar with
# the manifest after it, and the unsafe tarballs cut after their unsafe members.
"$RVENV" bundle -q "$work/venv-system" -o "$work/app.tar" --arcroot app
mkdir "$work/x" && tar -xf "$work/app.tar" -C "$work/x"
cp "$work/x/app/bin/pip" "$SEEDS/shebang/rvenv-relocatable-pip"
cp "$work/x/app/pyvenv.cfg" "$SEEDS/pyvenv_cfg/rvenv-bundle"
# A tar made of some members of another, byte for byte: the first N [and the manifest].
cut() {
    python3 - "$@" <<'EOF'
import sys, tarfile
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tarfile.open(src) as t:
    members = t.getmembers()
data = open(src, "rb").read()
def raw(m):  # the member's own header(s) and data blocks, as they were written
    return data[m.offset:m.offset_data + (m.size + 511) // 512 * 512]
keep = members[:n]
if len(sys.argv) > 4:  # the manifest too (large: it lists every file of the bundle)
    keep += [m for m in members if m.name.endswith("/rvenv.json")]
open(dst, "wb").write(b"".join(raw(m) for m in keep) + b"\0" * 1024)
EOF
}
cut "$work/app.tar" "$SEEDS/tar_reader/bundle-head-and-manifest" 12 manifest
cut "$work/app.tar" "$SEEDS/tar_reader/bundle-head" 12
mkdir "$work/evil" "$work/canary"
python3 tests/fixtures/unsafe_tar.py "$work/app.tar" "$work/evil" "$work/canary" >/dev/null
for f in "$work"/evil/*.tar; do
    # The unsafe members come after the first three.
    cut "$f" "$SEEDS/tar_reader/unsafe-$(basename "$f" .tar)" 5
done
echo "seeds in $SEEDS"
