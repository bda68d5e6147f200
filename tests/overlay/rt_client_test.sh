#!/usr/bin/env bash
# rt_client.c (timers, message queues, clocks), compiled in the Debian
# bullseye userland with its own gcc, run in the Lambda-like sandbox (no
# /dev/mqueue, uid 993): once with bullseye's stock librt 2.31, once with
# lambshm's librt.so.1 first in LD_LIBRARY_PATH.  Both runs must pass every
# check, and their transcripts must be identical line for line.  Where the
# sandbox runs another architecture under qemu-user, rt_client is told so
# (LAMBSHM_TEST_EMULATOR) and skips, with a "SKIP: " line, what the emulator
# cannot do; each such line becomes a skipped TAP test here.
# Output: TAP.  Usage: rt_client_test.sh SANDBOX LIBRT
set -u
sandbox="$1" librt="$2"
here="$(cd "$(dirname "$0")" && pwd)"

. "$here/../tap.sh"
tap_needs_root

. "$here/layer_dirs.sh"
layer_dirs "$librt" -- "$here/rt_client.c" "$here/../../core/symver.h"

# The emulator, as tests/harness/target-exec names it for the GoogleTest programs.
emulator=()
if [ -n "${LAMBSHM_SANDBOX_ARCH:-}" ] && [ "$LAMBSHM_SANDBOX_ARCH" != "$(dpkg --print-architecture)" ]; then
  emulator=(--env "LAMBSHM_TEST_EMULATOR=$(/usr/bin/qemu-aarch64-static --version | head -1)")
fi
in_sandbox() { out=$("$sandbox" --opt "$opt" --mnt "$mnt" "${emulator[@]}" -- /bin/sh -c "$1" 2>&1); rc=$?; }
build='cd /tmp && gcc -O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -o rt_client /mnt/rt_client.c -pthread -lrt -ldl'

in_sandbox "test ! -e /dev/mqueue && $build && LD_LIBRARY_PATH= ./rt_client"
stock="$out"
check "stock glibc 2.31: every check passes (no /dev/mqueue mounted)" \
  test "$rc" = 0 -a -n "$(echo "$stock" | grep -Fx 'rt_client: ok')"

in_sandbox "test ! -e /dev/mqueue && $build && ./rt_client"
ours="$out"
check "lambshm's librt first in LD_LIBRARY_PATH: every check passes" \
  test "$rc" = 0 -a -n "$(echo "$ours" | grep -Fx 'rt_client: ok')"

while IFS= read -r skipped; do
  skip "rt_client: ${skipped#SKIP: }"
done < <(echo "$stock" | grep '^SKIP: ')

out="$(diff <(echo "$stock") <(echo "$ours"))"
check "the transcripts are identical ($(echo "$stock" | wc -l) lines)" \
  test -z "$out" -a -n "$(echo "$stock" | grep -Fx 'rt_client: ok')"

in_sandbox "$build && ./rt_client where"
check "the calls went to lambshm's librt" \
  test "$rc" = 0 -a "$(echo "$out" | grep -cv ' /opt/lib/overlay/librt.so.1$')" = 0 \
       -a "$(echo "$out" | wc -l)" -ge 3

in_sandbox "$build && LD_LIBRARY_PATH= ./rt_client where"
check "and without it, to the stock ones" \
  test "$rc" = 0 -a "$(echo "$out" | grep -c '/opt/lib')" = 0

tap_finish
