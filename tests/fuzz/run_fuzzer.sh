#!/bin/sh
# Runs a libFuzzer target briefly and deterministically: the checked-in
# corpus, then a fixed number of mutations from a fixed seed (bounded in time
# too, as a safety net).  New inputs go to a temporary directory, never into
# the checked-in corpus.  Exit status: 0, or 1 on a finding (the input is in
# the log; libFuzzer's own default, 77, would read as a skip); 77 when there
# is no fuzzer to run.
# Usage: run_fuzzer.sh FUZZER CORPUS RUNS
set -u
fuzzer="$1" corpus="$2" runs="$3"
if [ ! -x "$fuzzer" ]; then
  echo "SKIP: no libFuzzer build ($fuzzer): clang++ with -fsanitize=fuzzer is missing"
  exit 77
fi
work=$(mktemp -d /tmp/lambshm-fuzz-corpus.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1  # crash-* files land here; the log shows their bytes
"$fuzzer" -error_exitcode=1 -seed=1 -runs="$runs" -max_total_time=120 -max_len=4200 -timeout=20 \
  -print_final_stats=1 "$work" "$corpus" 2>&1
