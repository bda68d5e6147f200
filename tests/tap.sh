# TAP output for the shell test drivers (meson's `protocol: 'tap'`); source it.
#   ok WHAT                  a passing check
#   not_ok WHAT [DETAIL...]  a failing one, each DETAIL printed as "# " lines
#   check WHAT CMD...        runs CMD; on failure prints $out as the detail
#   skip WHAT [WHY]          a skipped check
#   tap_needs_root           skips the whole script unless root ("1..0 # SKIP", exit 0:
#                            Meson reads a TAP test's exit status 77 as an error)
#   tap_finish               prints the plan; use as the last command
n=0 failed=0
out=
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1)) failed=$((failed + 1))
  echo "not ok $n - $1"
  shift
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP${2:+ $2}"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what" "$out"; fi; }
tap_needs_root() {
  if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root for the sandbox"; exit 0; fi
}
tap_finish() { echo "1..$n"; [ "$failed" = 0 ]; }
