#!/usr/bin/env bash
# Runs every fuzz target in turn, each until it has made RUNS executions or MAX_TIME seconds
# have passed (whichever comes first), one at a time and nice'd, then minimises its corpus.
# Appends one line per target to LOG: date, target, executions (libFuzzer's final
# stat::number_of_executed_units), wall time, executions per second, result.
#
#   fuzz/run-all.sh                        # 10 million runs or 30 minutes per target
#   RUNS=20000 MAX_TIME=60 fuzz/run-all.sh # a short check that it works
#   TARGETS="shebang tar_reader" fuzz/run-all.sh
#
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`). New inputs go into
# fuzz/corpus/TARGET (committed); a crash leaves its input in fuzz/artifacts/TARGET (not
# committed: copy it to fuzz/regressions/TARGET with the fix, for tests/it/fuzz_corpus.rs).
set -u
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
MAX_TIME=${MAX_TIME:-1800}
NICE=${NICE:-19}
CMIN=${CMIN:-1}
LOG=${LOG:-$PWD/logs/run-all.log}
TARGETS=${TARGETS:-"elf_inspect arm_attributes shebang pyvenv_cfg record wheel_zip tar_reader"}
mkdir -p logs "$(dirname "$LOG")"

# Inputs past these sizes add little: the formats' interesting parts are at the start.
max_len() {
    case $1 in
        shebang | pyvenv_cfg) echo 4096 ;;
        record | wheel_zip) echo 16384 ;;
        tar_reader) echo 32768 ;;
        *) echo 65536 ;;
    esac
}

# Tokens of the format, where there is a dictionary for it (fuzz/dicts).
dict() {
    [ -f "dicts/$1.dict" ] && echo "-dict=$PWD/dicts/$1.dict"
}

nice -n "$NICE" cargo +nightly fuzz build -O || exit 2
failed=0
for t in $TARGETS; do
    mkdir -p "corpus/$t" "artifacts/$t"
    out="logs/$t.log"
    start=$(date +%s)
    nice -n "$NICE" cargo +nightly fuzz run -O "$t" "$PWD/corpus/$t" "$PWD/seeds/$t" -- \
        -runs="$RUNS" -max_total_time="$MAX_TIME" -max_len="$(max_len "$t")" \
        -print_final_stats=1 $(dict "$t") >"$out" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$out" | tail -n 1)
    execs=${execs:-0}
    rate=$((execs / (elapsed > 0 ? elapsed : 1)))
    if [ "$rc" -eq 0 ]; then
        result="no crash"
    else
        result="FAILED (exit $rc; input in fuzz/artifacts/$t, log in fuzz/$out)"
        failed=1
    fi
    printf '%s\t%s\t%s execs\t%s s\t%s exec/s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$t" "$execs" "$elapsed" "$rate" "$result" | tee -a "$LOG"
    if [ "$CMIN" = 1 ] && [ "$rc" -eq 0 ]; then
        nice -n "$NICE" cargo +nightly fuzz cmin -O "$t" "$PWD/corpus/$t" -- \
            -max_len="$(max_len "$t")" >"logs/$t.cmin.log" 2>&1 ||
            echo "cmin of $t failed: see fuzz/logs/$t.cmin.log" >&2
    fi
done
exit $failed
