#!/usr/bin/env bash
# A program built on glibc 2.31 that needs libpthread's GLIBC_2.30 node
# (clockwait_client.c: pthread_cond_clockwait, as GCC 10's libstdc++ emits for
# std::condition_variable::wait_for, and sem_clockwait), compiled in the
# bullseye userland with its own gcc, in the Lambda-like sandbox: it starts
# and runs with stock glibc and with the overlay; sem_clockwait binds to the
# shim and pthread_cond_clockwait to the shim's forwarder, which jumps to the
# stock library's (libpthread_shim/forward.cpp).
# Output: TAP.  Usage: clockwait_test.sh SANDBOX LIBRT LIBPTHREAD
set -u
sandbox="$1" librt="$2" libpthread="$3"
here="$(cd "$(dirname "$0")" && pwd)"

. "$here/../tap.sh"
tap_needs_root

. "$here/layer_dirs.sh"
layer_dirs "$librt" "$libpthread" -- "$here/clockwait_client.c"

in_sandbox() { out=$("$sandbox" --opt "$opt" --mnt "$mnt" -- /bin/sh -c "$1" 2>&1); rc=$?; }
build='cd /tmp && gcc -O2 -Wall -Werror -o clockwait /mnt/clockwait_client.c -pthread'

in_sandbox "$build && readelf -V clockwait"
check "the program needs libpthread.so.0's GLIBC_2.30 node" \
  test "$rc" = 0 -a -n "$(echo "$out" | sed -n '/File: libpthread.so.0/,/File:/p' | grep -F 'Name: GLIBC_2.30')"

in_sandbox "$build && LD_LIBRARY_PATH= ./clockwait"
check "it runs with stock glibc 2.31" test "$rc" = 0 -a "$out" = "clockwait: ok"

in_sandbox "$build && ./clockwait"
check "it starts and runs with the overlay first in LD_LIBRARY_PATH" \
  test "$rc" = 0 -a "$out" = "clockwait: ok"

in_sandbox "$build && LD_DEBUG=bindings ./clockwait 2>&1 | grep _clockwait"
check "sem_clockwait@GLIBC_2.30 binds to the shim" \
  test -n "$(echo "$out" | grep -E 'to /opt/lib/overlay/libpthread.so.0 .*.sem_clockwait. \[GLIBC_2.30\]')"
check "pthread_cond_clockwait@GLIBC_2.30 binds to the shim's forwarder to the stock library" \
  test -n "$(echo "$out" | grep -E 'to /opt/lib/overlay/libpthread.so.0 .*.pthread_cond_clockwait. \[GLIBC_2.30\]')"

tap_finish
