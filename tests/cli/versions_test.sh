#!/usr/bin/env bash
# doctor and run against a program that needs libpthread's GLIBC_2.30 node
# (tests/overlay/clockwait_client.c, built in bullseye with its gcc), in the
# Lambda-like sandbox on glibc 2.31, once with an overlay whose shim lacks the
# node (only glibc 2.26's nodes, as released before) and once with ours:
#   - doctor says the old overlay would not start it, and that run would use
#     the preload library; it says nothing of the kind with ours;
#   - run with the old overlay falls back to the preload library, and the
#     program runs; with ours it keeps the overlay;
#   - a program that needs a symbol at GLIBC_2.30 that no library loaded
#     defines (as one that calls pthread_cond_clockwait would on glibc 2.26,
#     whose libpthread lacks it while our shim defines the node): doctor says
#     it would not start, and run does not pretend the preload library helps.
# Output: TAP.  Usage: versions_test.sh SANDBOX LAMBSHM LIBRT SHIM OLD_SHIM PRELOAD CLIENT_C
set -u
sandbox="$1" lambshm="$2" librt="$3" shim="$4" old_shim="$5" preload="$6" client="$7"
here="$(cd "$(dirname "$0")" && pwd)"
has() { printf '%s\n' "$out" | grep -qF -- "$1"; }
lacks() { ! has "$1"; }

. "$(dirname "$0")/../tap.sh"
tap_needs_root

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/layers.sh"
mkdir "$work/mnt" && cp "$client" "$here/absent/"* "$work/mnt/"
chmod -R a+rX "$work"

in_sandbox() {
  out=$("$sandbox" --opt "$work/$1" --mnt "$work/mnt" -- /bin/sh -c "$2" 2>&1)
  rc=$?
}
L=/opt/bin/lambshm
stock='LD_LIBRARY_PATH='
build='cd /tmp && gcc -O2 -o clockwait /mnt/clockwait_client.c -pthread'
not_define='clockwait needs version GLIBC_2.30 of libpthread.so.0, which /opt/lib/overlay/libpthread.so.0 does not define'

# --- The shim with 2.26's nodes only ---------------------------------------------------
in_sandbox old "$build && ./clockwait"
check "old shim: the program does not start (the failure is real)" \
  test "$rc" != 0 -a -n "$(has "version \`GLIBC_2.30' not found (required by ./clockwait)" && echo y)"

in_sandbox old "$build && $L doctor --for /tmp/clockwait"
check "old shim, overlay active: doctor says it would not start, and why (status 1)" \
  test "$rc" = 1 -a -n "$(has "would not start: $not_define" && echo y)"

in_sandbox old "$build && $stock $L doctor --for /tmp/clockwait"
check "old shim, stock: doctor says run would not start it with the overlay" \
  test -n "$(printf '%s\n' "$out" | sed -n '/under lambshm run:/,$p' | grep -F "would not start: $not_define")"
check "and that run would use the preload library instead, which starts it (status 0)" \
  test "$rc" = 0 -a -n "$(has 'so lambshm run would use the preload library instead:' && \
                          has 'Verdict: shared memory will work' && echo y)"

in_sandbox old "$build && $stock $L run ./clockwait"
check "old shim: run falls back to the preload library, says so, and the program runs" \
  test "$rc" = 0 -a -n "$(has 'clockwait: ok' && has "the overlay would not start ./clockwait ($not_define); using the preload library instead" && echo y)"

in_sandbox old "$build && $stock $L run --mode overlay ./clockwait"
check "old shim: --mode overlay is obeyed (and fails as the dynamic linker says)" \
  test "$rc" != 0 -a -n "$(has "version \`GLIBC_2.30' not found" && echo y)"

# --- Ours --------------------------------------------------------------------------------
in_sandbox new "$build && $stock $L doctor --for /tmp/clockwait"
check "our shim: doctor finds nothing that would stop it, and keeps the overlay (status 0)" \
  test "$rc" = 0 -a -n "$(lacks 'would not start' && lacks 'preload library instead' && echo y)"

in_sandbox new "$build && $stock LD_DEBUG=bindings $L run ./clockwait 2>&1 | grep -E 'clockwait|preload'"
check "our shim: run keeps the overlay, silently, and the program runs" \
  test -n "$(has 'clockwait: ok' && lacks 'preload' && echo y)" \
       -a -n "$(printf '%s\n' "$out" | grep -E "to /opt/lib/overlay/libpthread.so.0 .*.sem_clockwait. \[GLIBC_2.30\]")"

# --- A symbol at a node the shim defines that nothing defines -----------------------------
absent_build='cd /tmp && gcc -shared -fPIC -o libpthread.so.0 -Wl,-soname,libpthread.so.0 -Wl,--version-script=/mnt/stub.map /mnt/stub.c && gcc -o absent /mnt/absent.c ./libpthread.so.0 && rm libpthread.so.0'
absent_msg='absent needs lambshm_test_absent@GLIBC_2.30 (from libpthread.so.0), which nothing it loads defines'
in_sandbox new "$absent_build && ./absent"
check "our shim: such a program starts and fails at the symbol (the failure is real)" \
  test "$rc" != 0 -a -n "$(has 'undefined symbol: lambshm_test_absent, version GLIBC_2.30' && echo y)"

in_sandbox new "$absent_build && $stock $L doctor --for /tmp/absent"
check "doctor says it would not start, as things stand and under run (status 1)" \
  test "$rc" = 1 -a "$(printf '%s\n' "$out" | grep -cxF "    would not start: $absent_msg")" = 2 \
       -a -n "$(lacks 'preload library instead' && echo y)"

in_sandbox new "$absent_build && $stock $L run ./absent"
check "run keeps the overlay and says the preload library would not start it either" \
  test "$rc" != 0 -a -n "$(has "./absent would not start with the overlay ($absent_msg) nor with the preload library; running it with the overlay anyway" && echo y)"

tap_finish
