#!/usr/bin/env bash
# How fast `rvenv bundle` writes a bundle (gzip and zstd), how large the bundle is and how much
# memory it takes, against the public tools on the very same tree: `tar -czf`, tar with pigz,
# tar with zstd -T0, and (realistic venv only) venv-pack. Timed with hyperfine, peak RSS with
# GNU time, on three venvs built once with the machine's /usr/bin/python3 and cached:
#
#   realistic  python3 -m venv + pinned wheels from PyPI (numpy, pandas, opencv-python-headless,
#              flask, pillow, pyyaml, requests, paho-mqtt, pyserial and their dependencies)
#   big        the same venv plus whole copies of its site-packages under other package names
#              (_benchpad_NN/, the last one partial) up to 2 GB (RVENV_BENCH_BIG_BYTES)
#   small      python3 -m venv + one package of 50,000 small generated .py modules (fixed seed)
#
# For each venv, `rvenv bundle` writes the bundle once and it is extracted to a tree; the
# tar/pigz/zstd commands compress that tree, so every tool packs the same bytes (the venv plus
# the interpreter and standard library that rvenv adds). venv-pack packs the venv itself: it
# leaves the interpreter and standard library out (bin/python3 stays a symlink to
# /usr/bin/python3), needs no `venv --copies`, and refuses only a venv without pyvenv.cfg, with
# several lib/python*, or with editable installs; its refusal would be reported as a failure.
#
# Usage: bench/bundle-speed.sh [--quick] [--build-only] [REPORT.md]
#   --quick       2 timed runs instead of 5 (3 for the big venv), and no big venv
#   --build-only  build (or check) the cached venvs and tools, measure nothing
#   REPORT.md     where the Markdown report goes (default: stdout); progress goes to stderr
# Environment:
#   RVENV                  the rvenv binary (default: <repo>/target/release/rvenv; not built here)
#   RVENV_ARGS             extra arguments for every `rvenv bundle` (for example "-j 2")
#   RVENV_BENCH_DIR        cache of venvs, tools and outputs (default: ~/.cache/rvenv-bench)
#   RVENV_BENCH_BIG_BYTES  size the big venv is padded to (default: 2000000000)
#   RVENV_BENCH_RUNS       timed runs per command (overrides the default above)
#
# Every command runs warm: the page cache cannot be dropped reliably on a shared machine, so
# each command is run once under /usr/bin/time -v (peak RSS, output size, exit status), then
# hyperfine does one warm-up run and the timed runs. A command that fails (for example a flag
# the binary does not have yet) is reported as failed with its error, and the rest goes on.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bench_dir="${RVENV_BENCH_DIR:-$HOME/.cache/rvenv-bench}"
rvenv="${RVENV:-$repo/target/release/rvenv}"
big_bytes="${RVENV_BENCH_BIG_BYTES:-2000000000}"
python=/usr/bin/python3
quick=0
build_only=0
report=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --build-only) build_only=1 ;;
    -h|--help) usage ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *) [ -z "$report" ] || { echo "error: one report file only" >&2; exit 2; }; report="$1" ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then runs_default=2; runs_big=2; else runs_default=5; runs_big=3; fi
runs_default="${RVENV_BENCH_RUNS:-$runs_default}"
runs_big="${RVENV_BENCH_RUNS:-$runs_big}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools: install only what is missing (Debian packages, as root).
apt_updated=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "$1 is missing and this is not root: apt-get install $2"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >&2; apt_updated=1; fi
  log "installing $2 (for $1)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
}
command -v hyperfine >/dev/null || apt_install hyperfine hyperfine
command -v pigz >/dev/null || apt_install pigz pigz
command -v zstd >/dev/null || apt_install zstd zstd
[ -x /usr/bin/time ] || apt_install /usr/bin/time time
[ -x "$python" ] || apt_install "$python" python3
"$python" -c 'import ensurepip, venv' 2>/dev/null || apt_install "python3 -m venv" python3-venv
[ -x "$rvenv" ] || die "no rvenv binary at $rvenv (build it: cargo build --release, or set RVENV)"

mkdir -p "$bench_dir/venvs" "$bench_dir/tools"
work="$bench_dir/work"
rm -rf "$work"
mkdir -p "$work"
results="$work/results.tsv"   # venv, label, status, size, rss_kb, hyperfine json, note
: >"$results"
meta="$work/meta.tsv"         # key, value
: >"$meta"
meta() { printf '%s\t%s\n' "$1" "$2" >>"$meta"; }

# ---------------------------------------------------------------------------------------------
# The venvs. Each is rebuilt when its recipe (pins, generator, sizes) changes; the recipe file
# is written last, so an interrupted build is redone.

# Every package pinned, dependencies too, so the venv is the same on every run. All have a
# cp311 (or abi3/pure) wheel for manylinux x86_64. opencv-python-headless 5.0 rather than 4.12
# and pillow 13 rather than 11/12: rvenv 0.1.0's check refuses opencv-python-headless 4.12.0.88
# and pillow 11.3.0/12.0.0 (a library in their .libs has no RUNPATH and finds its neighbour
# through the extension module's DT_RPATH, which the check does not follow).
pins=(
  numpy==2.2.6 pandas==2.3.3 opencv-python-headless==5.0.0.93 flask==3.1.2 pillow==13.0.0
  pyyaml==6.0.3 requests==2.32.5 paho-mqtt==2.1.0 pyserial==3.5
  blinker==1.9.0 certifi==2026.10.19.post1 charset-normalizer==3.5.3 click==8.5.1 idna==3.20
  itsdangerous==2.2.0 jinja2==3.1.6 markupsafe==3.0.4 python-dateutil==4.0.0 pytz==2026.6
  tzdata==2026.6 urllib3==2.8.0 werkzeug==3.1.9
)
venvpack_pin="venv-pack==0.2.0"

# Generates the small-file package: N modules of plausible Python (docstrings, imports,
# constants, classes, functions, loops, comments) from a fixed vocabulary and a fixed seed;
# file sizes from a log-normal distribution (median ~3 KB, 0.3 to 25 KB), 100 files per
# subpackage, each subpackage with its __init__.py.
read -r -d '' gen_small_py <<'PY' || true
import math, os, random, sys

root, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
WORDS = """account address agent alias archive array batch buffer cache channel chunk client
clock column config context counter cursor data delay device digest entry error event field
filter flag frame handler header host index item job key label layer limit line list loader
lock mapping message meta mode model module name node offset option packet page param parser
path payload peer plugin point pool port prefix queue reader record region registry request
resource result retry route row rule sample schema scope sensor serial session signal size
slot source state status step stream suffix table tag target task timeout token topic trace
value version view window worker writer zone""".split()
VERBS = """add apply build check close collect compute convert create decode delete emit encode
ensure fetch find flush format get handle init load lookup merge normalize open parse poll
publish read refresh register remove render reset resolve run save scan send serialize set
split start stop store sync update validate wait walk write""".split()
MODULES = ["os", "sys", "json", "time", "re", "math", "struct", "typing",
           "functools", "itertools", "collections", "dataclasses", "pathlib", "enum"]
ADJ = "active current default empty final first last local new next old pending raw remote".split()

def w(): return rng.choice(WORDS)
def name(): return "_".join([rng.choice(VERBS), w()] + ([w()] if rng.random() < 0.4 else []))
def var(): return w() if rng.random() < 0.5 else rng.choice(ADJ) + "_" + w()
def camel(): return "".join(x.capitalize() for x in (rng.choice(ADJ), w(), rng.choice(["Manager", "Handler", "Reader", "Writer", "Client", "Error", "Config", "State", "Buffer"])))
def sentence(n=None):
    n = n or rng.randint(5, 14)
    s = " ".join(rng.choice(WORDS + VERBS + ADJ + ["the", "a", "of", "to", "and", "is", "for", "when", "if", "in"]) for _ in range(n))
    return s[0].upper() + s[1:]
def const(): return (rng.choice(ADJ) + "_" + w()).upper()
def literal():
    r = rng.random()
    if r < 0.3: return str(rng.randint(0, 4096))
    if r < 0.5: return repr("%s-%s" % (w(), w()))
    if r < 0.6: return repr(round(rng.uniform(0, 100), 3))
    if r < 0.7: return rng.choice(["None", "True", "False"])
    if r < 0.85: return "[%s]" % ", ".join(repr(w()) for _ in range(rng.randint(1, 4)))
    return "{%s}" % ", ".join("%r: %d" % (w(), rng.randint(0, 99)) for _ in range(rng.randint(1, 3)))

def statements(depth, names, ind):
    out = []
    for _ in range(rng.randint(2, 6)):
        r = rng.random()
        a = rng.choice(names)
        if r < 0.25:
            v = var(); names.append(v)
            out.append("%s%s = %s" % (ind, v, rng.choice([literal(), "%s(%s)" % (name(), a), "%s.%s" % (a, w()), "len(%s)" % a])))
        elif r < 0.35:
            out.append("%s# %s" % (ind, sentence().lower()))
        elif r < 0.5 and depth < 2:
            cond = rng.choice(["%s is None" % a, "%s == %s" % (a, literal()), "len(%s) > %d" % (a, rng.randint(0, 64)),
                               "%s is not None and %s.%s" % (a, a, w()), "not %s" % a, "isinstance(%s, %s)" % (a, rng.choice(["str", "int", "dict", "list"]))])
            out.append("%sif %s:" % (ind, cond))
            out += statements(depth + 1, list(names), ind + "    ")
            if rng.random() < 0.4:
                out.append("%selse:" % ind)
                out += statements(depth + 1, list(names), ind + "    ")
        elif r < 0.62 and depth < 2:
            v = w()
            out.append("%sfor %s in %s:" % (ind, v, a))
            out += statements(depth + 1, names + [v], ind + "    ")
        elif r < 0.72 and depth < 2:
            out.append("%stry:" % ind)
            out += statements(depth + 1, list(names), ind + "    ")
            out.append("%sexcept (%s) as exc:" % (ind, rng.choice(["KeyError", "ValueError", "OSError", "TypeError"])))
            out.append('%s    logger.warning("%s %%s: %%s", %s, exc)' % (ind, sentence(4).lower(), a))
        elif r < 0.85:
            out.append('%slogger.debug(f"%s {%s!r}")' % (ind, sentence(3).lower(), a))
        else:
            out.append("%s%s.%s(%s)" % (ind, a, name(), ", ".join(rng.choice(names) for _ in range(rng.randint(0, 3)))))
    if not out[-1].lstrip().startswith(("#", "if ", "else:", "for ", "try:")) or out[-1].startswith(ind + " "):
        return out
    return out + ["%spass" % ind]

def function(ind, method=False):
    args = [var() for _ in range(rng.randint(0, 4))]
    args = list(dict.fromkeys(args))
    sig = (["self"] if method else []) + args[:-1] + (["%s=%s" % (args[-1], literal())] if args else [])
    lines = ["%sdef %s(%s):" % (ind, name(), ", ".join(sig))]
    lines.append('%s    """%s.' % (ind, sentence()))
    if args and rng.random() < 0.6:
        lines.append("")
        lines.append("%s    Args:" % ind)
        for a in args:
            lines.append("%s        %s: %s." % (ind, a, sentence(6).lower()))
    lines.append('%s    """' % ind)
    lines += statements(0, (args or ["self" if method else "None"]) + ["self"] * method, ind + "    ")
    lines.append("%s    return %s" % (ind, rng.choice(args or ["None"])))
    return lines

def module(target):
    lines = ['"""%s.' % sentence(), "", sentence(), '"""', "from __future__ import annotations", ""]
    for m in sorted(set(["logging"] + rng.sample(MODULES, rng.randint(1, 5)))):
        lines.append("import %s" % m)
    lines += ["", "logger = logging.getLogger(__name__)", ""]
    for _ in range(rng.randint(1, 4)):
        lines.append("%s = %s" % (const(), literal()))
    size = sum(len(l) + 1 for l in lines)
    while size < target:
        lines += ["", ""]
        if rng.random() < 0.4:
            block = ["class %s(%s):" % (camel(), rng.choice(["object", "Exception", "dict"])), '    """%s."""' % sentence(), ""]
            for _ in range(rng.randint(1, 3)):
                block += function("    ", True) + [""]
        else:
            block = function("")
        lines += block
        size += sum(len(l) + 1 for l in block) + 2
    return "\n".join(lines) + "\n"

per_dir = 100
written = 0
d = 0
while written < count:
    sub = os.path.join(root, "pkg_%03d" % d)
    os.makedirs(sub)
    for i in range(min(per_dir, count - written)):
        target = min(20000, max(200, int(math.exp(rng.gauss(math.log(1500), 0.9)))))
        fn = "__init__.py" if i == 0 else "%s_%02d.py" % (w(), i)
        with open(os.path.join(sub, fn), "w") as f:
            f.write(module(target))
        written += 1
    d += 1
with open(os.path.join(root, "__init__.py"), "w") as f:
    f.write('"""Generated for the rvenv benchmark: %d small modules."""\n' % count)
PY

# Is the venv at $1 built from recipe $2? Otherwise remove it so that it is built again.
fresh() {
  if [ -f "$1.recipe" ] && [ "$(cat "$1.recipe")" = "$2" ] && [ -d "$1" ]; then return 0; fi
  rm -rf "$1" "$1.recipe"
  return 1
}

pip_install_pins() {
  "$1/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: "${pins[@]}" >&2
  "$1/bin/pip" check --disable-pip-version-check >&2 || die "pip check failed in $1 (pins inconsistent)"
}

site() { echo "$1/lib/python3.11/site-packages"; }

real="$bench_dir/venvs/realistic"
real_recipe="realistic v1 $($python -VV | head -1) ${pins[*]}"
if ! fresh "$real" "$real_recipe"; then
  log "building the realistic venv in $real (pip install from PyPI)"
  "$python" -m venv "$real"
  pip_install_pins "$real"
  echo "$real_recipe" >"$real.recipe"
fi

small="$bench_dir/venvs/small"
small_count=50000
small_seed=20261125
small_recipe="small v1 $small_count $small_seed $(printf '%s' "$gen_small_py" | md5sum | cut -c1-32)"
if ! fresh "$small" "$small_recipe"; then
  log "building the small-file venv in $small ($small_count generated modules)"
  "$python" -m venv "$small"
  "$python" -c "$gen_small_py" "$(site "$small")/benchsmall" "$small_count" "$small_seed"
  echo "$small_recipe" >"$small.recipe"
fi

# The big venv: the realistic packages installed by pip, then whole copies of the realistic
# site-packages (every package, its .libs and __pycache__, not the .pth files) in
# site-packages/_benchpad_NN/. Real content keeps the real mix of ELF/.py/.pyc sizes and their
# compressibility; a copy is hundreds of MB away from the next, far beyond the window of gzip
# (32 KB) and zstd -3 (a few MB), so no compressor gains from the repetition. Each copy keeps its
# packages next to their .libs, so the $ORIGIN RUNPATHs resolve and rvenv's ELF check passes.
big="$bench_dir/venvs/big"
sp_bytes() { find "$(site "$1")" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
venv_bytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
# The last copy is partial: the .libs folders first (so any package copied after them finds its
# libraries), then whole top-level entries in name order until the size is reached.
entries_in_copy_order() {
  (cd "$1" && { find . -mindepth 1 -maxdepth 1 -name '*.libs' | sort
                find . -mindepth 1 -maxdepth 1 ! -name '*.libs' ! -name '*.pth' | sort; })
}
if [ "$quick" = 0 ]; then
  real_sp=$(sp_bytes "$real")
  real_total=$(venv_bytes "$real")
  copies=$(( (big_bytes - real_total) / real_sp ))
  [ "$copies" -ge 0 ] || copies=0
  rest=$(( big_bytes - real_total - copies * real_sp ))
  big_recipe="big v2 bytes=$big_bytes copies=$copies rest=$rest of [$real_recipe]"
  if ! fresh "$big" "$big_recipe"; then
    log "building the big venv in $big ($copies copies of the realistic site-packages and $rest bytes more)"
    "$python" -m venv "$big"
    pip_install_pins "$big"
    src="$(site "$real")"
    n=0
    while [ "$n" -lt "$copies" ]; do
      n=$((n + 1))
      pad="$(site "$big")/_benchpad_$(printf %02d "$n")"
      mkdir "$pad"
      entries_in_copy_order "$src" | (cd "$src" && xargs -d '\n' cp -a -t "$pad")
    done
    if [ "$rest" -gt 0 ]; then
      pad="$(site "$big")/_benchpad_$(printf %02d $((n + 1)))"
      mkdir "$pad"
      done_bytes=0
      while IFS= read -r e && [ "$done_bytes" -lt "$rest" ]; do
        cp -a "$src/$e" "$pad/"
        done_bytes=$(( done_bytes + $(find "$src/$e" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}') ))
      done < <(entries_in_copy_order "$src")
    fi
    echo "$big_recipe" >"$big.recipe"
  fi
fi

# The venv-pack tool, in its own venv.
vp_venv="$bench_dir/tools/venv-pack"
if ! fresh "$vp_venv" "$venvpack_pin"; then
  log "installing $venvpack_pin in $vp_venv"
  "$python" -m venv "$vp_venv"
  "$vp_venv/bin/pip" install -q --disable-pip-version-check "$venvpack_pin" >&2
  echo "$venvpack_pin" >"$vp_venv.recipe"
fi
venvpack="$vp_venv/bin/venv-pack"
if [ "$build_only" = 1 ]; then
  for v in "$real" "$big" "$small"; do
    [ -d "$v" ] && printf '%s: %s bytes in %s files\n' "$v" "$(venv_bytes "$v")" "$(find "$v" -type f | wc -l)" >&2
  done
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Machine and tools.
meta date "$(date -u +%Y-%m-%d)"
meta nproc "$(nproc)"
meta cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
meta ram "$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta arch "$(uname -m)"
meta "rvenv" "$("$rvenv" --version 2>&1 | head -1) ($rvenv)"
meta "tar" "$(tar --version | head -1)"
meta "pigz" "$(pigz --version 2>&1 | head -1)"
meta "zstd" "zstd $(zstd --version 2>&1 | grep -o 'v[0-9][0-9.]*' | head -1)"
meta "venv-pack" "$("$venvpack" --version 2>&1 | head -1)"
meta "python" "$("$python" -VV | head -1) ($python)"
meta "hyperfine" "$(hyperfine --version)"
meta "rvenv_args" "${RVENV_ARGS:-}"
meta "runs" "$runs_default"
meta "runs_big" "$runs_big"
meta "quick" "$quick"
meta "pins" "${pins[*]}"

count_files() { find "$1" -type f | wc -l; }
q() { printf '%q' "$1"; }

# ---------------------------------------------------------------------------------------------
# One command: a run under /usr/bin/time -v (exit status, peak RSS, output size and format),
# then hyperfine. Arguments: venv key, label, command (sh), output file, expected magic (hex).
measure() {
  local key=$1 label=$2 cmd=$3 out=$4 magic=$5 runs=$6
  local slug
  slug=$(printf '%s' "$label" | tr -c 'a-zA-Z0-9' '_')
  local tlog="$work/$key/$slug.time" elog="$work/$key/$slug.log" json="$work/$key/$slug.json"
  log "[$key] $label: $cmd"
  rm -f "$out"
  local rc=0
  /usr/bin/time -v -o "$tlog" sh -c "$cmd" >"$elog" 2>&1 || rc=$?
  local rss size=""
  rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tlog")
  if [ "$rc" != 0 ]; then
    local err
    err=$(grep -v '^[[:space:]]*$' "$elog" | head -3 | tr '\n\t' '  ' | cut -c1-300)
    printf '%s\t%s\tfailed\t\t\t\texit %s: %s\n' "$key" "$label" "$rc" "$err" >>"$results"
    echo "   failed (exit $rc): $err" >&2
    return 0
  fi
  [ -f "$out" ] || {
    printf '%s\t%s\tfailed\t\t\t\texit 0 but no %s written\n' "$key" "$label" "$(basename "$out")" >>"$results"
    return 0
  }
  size=$(stat -c %s "$out")
  local head
  head=$(od -An -tx1 -N4 "$out" | tr -d ' \n')
  if [ "${head#"$magic"}" = "$head" ]; then
    printf '%s\t%s\tfailed\t%s\t%s\t\twrote %s but the file starts %s, not %s (format not honoured)\n' \
      "$key" "$label" "$size" "$rss" "$(basename "$out")" "$head" "$magic" >>"$results"
    echo "   failed: $(basename "$out") starts with $head, not $magic" >&2
    return 0
  fi
  if hyperfine --style basic --warmup 1 --runs "$runs" --prepare "rm -f $(printf '%q' "$out")" \
      --export-json "$json" -n "$label" "$cmd" >&2; then
    printf '%s\t%s\tok\t%s\t%s\t%s\t\n' "$key" "$label" "$size" "$rss" "$json" >>"$results"
  else
    printf '%s\t%s\tfailed\t%s\t%s\t\thyperfine failed (a timed run exited non-zero)\n' \
      "$key" "$label" "$size" "$rss" >>"$results"
  fi
  rm -f "$out"
}

bench_venv() {
  local key=$1 venv=$2 runs=$3
  local w="$work/$key"
  mkdir -p "$w/out"
  meta "venv_$key" "$venv"
  meta "venv_${key}_bytes" "$(venv_bytes "$venv")"
  meta "venv_${key}_files" "$(count_files "$venv")"
  meta "venv_${key}_du" "$(du -sb "$venv" | cut -f1)"
  log "[$key] preparing the tree: rvenv bundle once, extracted"
  if ! "$rvenv" bundle "$venv" -o "$w/prep.tar.gz" -q ${RVENV_ARGS:-} >"$w/prep.log" 2>&1; then
    meta "venv_${key}_error" "rvenv bundle failed, nothing measured: $(head -3 "$w/prep.log" | tr '\n\t' '  ')"
    echo "   rvenv bundle failed on $venv: $(head -3 "$w/prep.log")" >&2
    return 0
  fi
  mkdir "$w/tree"
  tar -xzf "$w/prep.tar.gz" -C "$w/tree"
  rm -f "$w/prep.tar.gz"
  meta "tree_${key}_bytes" "$(venv_bytes "$w/tree")"
  meta "tree_${key}_files" "$(count_files "$w/tree")"
  local tree o="$w/out" r
  tree=$(q "$w/tree")
  r="$(q "$rvenv") bundle $(q "$venv")"
  measure "$key" "rvenv bundle (gzip)" "$r -o $(q "$o/x.tar.gz") -q ${RVENV_ARGS:-}" "$o/x.tar.gz" 1f8b "$runs"
  measure "$key" "rvenv bundle (zstd)" "$r -o $(q "$o/x.tar.zst") -q ${RVENV_ARGS:-}" "$o/x.tar.zst" 28b52ffd "$runs"
  measure "$key" "tar -czf" "tar -czf $(q "$o/t.tar.gz") -C $tree ." "$o/t.tar.gz" 1f8b "$runs"
  measure "$key" "tar -I 'pigz -6'" "tar -I 'pigz -6' -cf $(q "$o/p.tar.gz") -C $tree ." "$o/p.tar.gz" 1f8b "$runs"
  measure "$key" "tar -I 'zstd -T0 -3'" "tar -I 'zstd -T0 -3' -cf $(q "$o/t.tar.zst") -C $tree ." "$o/t.tar.zst" 28b52ffd "$runs"
  if [ "$key" = realistic ]; then
    measure "$key" "venv-pack" "$(q "$venvpack") -p $(q "$venv") -o $(q "$o/v.tar.gz")" "$o/v.tar.gz" 1f8b "$runs"
  fi
  rm -rf "$w/tree"
}

bench_venv realistic "$real" "$runs_default"
if [ "$quick" = 0 ]; then
  bench_venv big "$big" "$runs_big"
fi
bench_venv small "$small" "$runs_default"

# ---------------------------------------------------------------------------------------------
# The report.
read -r -d '' report_py <<'PY' || true
import json, statistics, sys

meta_path, results_path = sys.argv[1], sys.argv[2]
meta = {}
for line in open(meta_path):
    k, _, v = line.rstrip("\n").partition("\t")
    meta[k] = v
rows = {}
order = []
for line in open(results_path):
    key, label, status, size, rss, js, note = line.rstrip("\n").split("\t")
    r = {"status": status, "size": int(size) if size else None,
         "rss": int(rss) * 1024 if rss else None, "note": note, "median": None}
    if status == "ok":
        h = json.load(open(js))["results"][0]
        r["median"] = statistics.median(h["times"])
        r["min"], r["max"], r["n"] = min(h["times"]), max(h["times"]), len(h["times"])
    rows.setdefault(key, {})[label] = r

order = [k[5:] for k in meta if k.startswith("venv_") and k.count("_") == 1]
MiB = 1024 * 1024
def mb(b): return "%.0f MB" % (b / 1e6)
def fmt_int(n): return "{:,}".format(n)
def get(key, label, what):
    r = rows.get(key, {}).get(label)
    return r.get(what) if r and r["status"] == "ok" else None

TITLES = {
    "realistic": "Realistic venv (numpy, pandas, opencv-python-headless, flask, pillow, pyyaml, requests, paho-mqtt, pyserial)",
    "big": "~2 GB venv (the realistic one plus copies of its site-packages)",
    "small": "50,000 small files (one package of generated .py modules)",
}
out = []
p = out.append
p("### Bundle speed, size and memory (`bench/bundle-speed.sh%s`)" % (" --quick" if meta["quick"] == "1" else ""))
p("")
p("Machine: %s cores (%s), %s RAM, %s %s; %s. Every command runs warm: one run under "
  "`/usr/bin/time -v` (exit status, peak RSS, output size), then hyperfine with one warm-up run "
  "and %s timed runs%s; the page cache is not dropped. Wall time is the median "
  "of the timed runs. The tar, pigz and zstd rows compress the tree that `rvenv bundle` wrote "
  "(extracted once), so every row packs the same bytes; venv-pack packs the venv itself, without "
  "the interpreter and standard library that rvenv adds, at its default gzip level 4. Peak RSS of "
  "a pipeline (`tar -I ...`) is that of its largest process, not the sum."
  % (meta["nproc"], meta["cpu"], meta["ram"], meta["kernel"], meta["arch"], meta["date"],
     meta["runs"], "" if meta["quick"] == "1" else " (%s for the big venv)" % meta["runs_big"]))
p("")
p("Tools: %s; %s; %s; %s; venv-pack %s; %s; %s.%s" % (
    meta["rvenv"], meta["tar"], meta["pigz"], meta["zstd"], meta["venv-pack"].replace("venv-pack ", ""),
    meta["python"], meta["hyperfine"],
    (" `rvenv bundle` ran with `%s`." % meta["rvenv_args"]) if meta["rvenv_args"] else ""))
p("")
p("Pinned wheels (cp311/abi3/pure, manylinux x86_64): %s." % ", ".join("`%s`" % x for x in meta["pins"].split()))
p("")
p("| Venv | Venv bytes | Venv files | Bundle tree bytes | Bundle tree files |")
p("|:---|---:|---:|---:|---:|")
for key in order:
    tb = meta.get("tree_%s_bytes" % key)
    p("| %s | %s (%s) | %s | %s | %s |" % (
        key, fmt_int(int(meta["venv_%s_bytes" % key])), mb(int(meta["venv_%s_bytes" % key])),
        fmt_int(int(meta["venv_%s_files" % key])),
        "%s (%s)" % (fmt_int(int(tb)), mb(int(tb))) if tb else "n/a",
        fmt_int(int(meta["tree_%s_files" % key])) if tb else "n/a"))
p("")
p("Venv bytes and files count regular files (symlinks not followed); the bundle tree is what "
  "`rvenv bundle` writes (the venv, the interpreter and the standard library), extracted. "
  "The realistic venv is `python3 -m venv` plus the pinned wheels. The big venv is the same plus "
  "copies of its site-packages under other names (`site-packages/_benchpad_NN/`, the last copy "
  "partial): real files keep the real mix of ELF, .py and .pyc sizes and their compressibility, "
  "and a copy lies hundreds of MB from the next, far outside the window of gzip (32 KB) or "
  "zstd -3, so no compressor gains from the repetition; each copy keeps its `.libs` folders, so "
  "rvenv's ELF check passes. The small-file venv is `python3 -m venv` plus one package of "
  "50,000 generated modules (valid Python from a fixed vocabulary and seed, log-normal sizes with "
  "a median of about 3 KB, 100 per subpackage), about as compressible as real source.")

notes = []
for key in order:
    p("")
    p("#### %s" % TITLES.get(key, key))
    p("")
    if meta.get("venv_%s_error" % key):
        p("Not measured: %s" % meta["venv_%s_error" % key])
        continue
    base_t = get(key, "tar -czf", "median")
    base_s = get(key, "tar -czf", "size")
    p("| Command | Median wall [s] | × `tar -czf` | Min–max [s] | Output [bytes] | × `tar -czf` size | Peak RSS [MiB] |")
    p("|:---|---:|---:|---:|---:|---:|---:|")
    for label, r in rows[key].items():
        if r["status"] != "ok":
            notes.append("%s, `%s`: %s" % (key, label, r["note"]))
            p("| `%s` | failed (note %d) | | | %s | | %s |" % (
                label, len(notes), fmt_int(r["size"]) if r["size"] else "",
                "%.1f" % (r["rss"] / MiB) if r["rss"] else ""))
            continue
        p("| `%s` | %.2f | %s | %.2f–%.2f | %s | %s | %.1f |" % (
            label, r["median"], "%.2f" % (r["median"] / base_t) if base_t else "n/a",
            r["min"], r["max"], fmt_int(r["size"]),
            "%.3f" % (r["size"] / base_s) if base_s else "n/a", r["rss"] / MiB))
if notes:
    p("")
    p("Failures:")
    p("")
    for i, n in enumerate(notes, 1):
        p("%d. %s" % (i, n.replace("|", "\\|")))

# Targets.
checks = []
def check(what, ok, value):
    checks.append((what, "n/a" if ok is None else ("met" if ok else "**not met**"), value))
def na(why): return (None, why)
for key in order:
    if meta.get("venv_%s_error" % key):
        continue
    g, gs = get(key, "rvenv bundle (gzip)", "median"), get(key, "rvenv bundle (gzip)", "size")
    z, zs = get(key, "rvenv bundle (zstd)", "median"), get(key, "rvenv bundle (zstd)", "size")
    t, ts = get(key, "tar -czf", "median"), get(key, "tar -czf", "size")
    pg = get(key, "tar -I 'pigz -6'", "median")
    tz, tzs = get(key, "tar -I 'zstd -T0 -3'", "median"), get(key, "tar -I 'zstd -T0 -3'", "size")
    miss = "not measured (a command failed)"
    if g and t and pg:
        check("%s: rvenv gzip wall ≤ 0.40× `tar -czf` and below `pigz -6`" % key,
              g <= 0.40 * t and g < pg, "%.2f s = %.2f× tar -czf (%.2f s); pigz -6 %.2f s" % (g, g / t, t, pg))
    else:
        check("%s: rvenv gzip wall ≤ 0.40× `tar -czf` and below `pigz -6`" % key, None, miss)
    if gs and ts:
        check("%s: rvenv gzip output ≤ 1.03× `tar -czf`'s" % key, gs <= 1.03 * ts,
              "%s bytes = %.3f× %s" % (fmt_int(gs), gs / ts, fmt_int(ts)))
    else:
        check("%s: rvenv gzip output ≤ 1.03× `tar -czf`'s" % key, None, miss)
    if z and tz and zs and tzs:
        check("%s: rvenv zstd wall ≤ 1.2× `tar -I 'zstd -T0 -3'`, output no larger" % key,
              z <= 1.2 * tz and zs <= tzs,
              "%.2f s = %.2f× %.2f s; %s bytes = %.3f× %s" % (z, z / tz, tz, fmt_int(zs), zs / tzs, fmt_int(tzs)))
    else:
        check("%s: rvenv zstd wall ≤ 1.2× `tar -I 'zstd -T0 -3'`, output no larger" % key, None, miss)
for key in ("realistic", "big"):
    for label in ("rvenv bundle (gzip)", "rvenv bundle (zstd)"):
        r = rows.get(key, {}).get(label)
        what = "%s: `%s` peak RSS ≤ 64 MiB" % (key, label)
        if meta.get("venv_%s_error" % key):
            check(what, None, "not measured (rvenv bundle failed on this venv)")
        elif key not in rows:
            check(what, None, "not measured (--quick skips the big venv)" if key == "big" else "not measured")
        elif r and r["rss"] and r["status"] == "ok":
            check(what, r["rss"] <= 64 * MiB, "%.1f MiB" % (r["rss"] / MiB))
        else:
            check(what, None, "not measured (the command failed)")
g1, g2 = get("realistic", "rvenv bundle (gzip)", "median"), get("big", "rvenv bundle (gzip)", "median")
what = "big venv's rvenv gzip time ≤ 5.5× the realistic venv's"
if g1 and g2:
    b1, b2 = int(meta["tree_realistic_bytes"]), int(meta["tree_big_bytes"])
    check(what, g2 <= 5.5 * g1, "%.2f s = %.2f× %.2f s (the tree is %.2f× as large)" % (g2, g2 / g1, g1, b2 / b1))
else:
    check(what, None, "not measured (--quick skips the big venv)" if "big" not in rows else "not measured (a command failed)")
p("")
p("#### Targets")
p("")
p("| Target | Result | Measured |")
p("|:---|:---|:---|")
for what, res, value in checks:
    p("| %s | %s | %s |" % (what, res, value))
print("\n".join(out))
PY

log "writing the report"
if [ -n "$report" ]; then
  "$python" -c "$report_py" "$meta" "$results" >"$report"
  echo "report written to $report" >&2
else
  "$python" -c "$report_py" "$meta" "$results"
fi
