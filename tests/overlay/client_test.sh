#!/usr/bin/env bash
# The C client (client.c), compiled in the Debian bullseye userland with its
# own gcc, in the Lambda-like sandbox: it fails with stock glibc 2.31 exactly
# as on Lambda (ENOSYS), and works with lambshm's libraries first in
# LD_LIBRARY_PATH, or with only the libpthread shim beside stock librt.
# Output: TAP.  Usage: client_test.sh SANDBOX LIBRT LIBPTHREAD
set -u
sandbox="$1" librt="$2" libpthread="$3"
here="$(cd "$(dirname "$0")" && pwd)"

. "$here/../tap.sh"
tap_needs_root

. "$here/layer_dirs.sh"
layer_dirs "$librt" "$libpthread" -- "$here/client.c" "$here/../harness/objects-left"

in_sandbox() { out=$("$sandbox" --opt "$opt" --mnt "$mnt" -- /bin/sh -c "$1" 2>&1); rc=$?; }
build='cd /tmp && gcc -O2 -Wall -Werror -o client /mnt/client.c -pthread -lrt'

in_sandbox "$build && LD_LIBRARY_PATH= ./client stock"
check "stock glibc 2.31 fails as on Lambda: ENOSYS from shm_open" \
  test "$rc" = 1 -a -n "$(echo "$out" | grep -F 'shm_open failed: Function not implemented (errno 38)')"

in_sandbox "$build && ./client lambshm && sh /mnt/objects-left /tmp/shm"
check "with lambshm first in LD_LIBRARY_PATH the client works" \
  test "$rc" = 0 -a -n "$(echo "$out" | grep -F 'client: ok')"
check "and leaves nothing in the backing directory" \
  test "$(echo "$out" | grep -v 'client: ok')" = ""

in_sandbox "$build && mkdir /tmp/shim && cp /opt/lib/overlay/libpthread.so.0 /tmp/shim/ && LD_LIBRARY_PATH=/tmp/shim ./client shim && sh /mnt/objects-left /tmp/shm"
check "the shim alone makes stock librt 2.31 use the backing directory (__shm_directory)" \
  test "$rc" = 0 -a "$(echo "$out" | grep -c 'client: ok')" = 1

in_sandbox "ldd /opt/lib/overlay/libpthread.so.0 /opt/lib/overlay/librt.so.1"
check "the shim loads the stock libpthread; neither library needs a C++ runtime" \
  test "$rc" = 0 -a -n "$(echo "$out" | grep -E '^\s*/lib64/libpthread.so.0 \(')" \
       -a -z "$(echo "$out" | grep -E 'libstdc|libgcc_s|not found')"

in_sandbox "python3 -c 'import multiprocessing as mp; q = mp.Queue(); q.put(42); print(q.get())'"
check "CPython 3.9's multiprocessing.Queue works" test "$rc" = 0 -a "$out" = 42

tap_finish
