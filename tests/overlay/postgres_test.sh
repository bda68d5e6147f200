#!/usr/bin/env bash
# PostgreSQL 13 from Debian bullseye (glibc 2.31), unchanged, in the
# Lambda-like sandbox (postgres_parallel.sh does the work inside).  With
# stock glibc, initdb falls back to System V shared memory and a server
# configured for POSIX dynamic shared memory (PostgreSQL's default) does not
# start: ENOSYS, as on Lambda.  With lambshm's libraries first in
# LD_LIBRARY_PATH it starts, runs a parallel query with all its workers and
# the right result, survives pgbench with 8 clients (its locks sleep on
# process-shared unnamed semaphores: the shim's sem_*), and leaves nothing in
# the backing directory.
# Output: TAP.  Usage: postgres_test.sh SANDBOX LIBRT LIBPTHREAD
set -u
sandbox="$1" librt="$2" libpthread="$3"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../tap.sh"
tap_needs_root

. "$here/layer_dirs.sh"
layer_dirs "$librt" "$libpthread" -- "$here/postgres_parallel.sh" "$here/../harness/objects-left"

# $out gets the transcript; fact KEY prints the value of "KEY: value".
run() { out=$("$sandbox" "$@" --mnt "$mnt" -- /bin/sh /mnt/postgres_parallel.sh 2>&1); }
fact() { printf '%s\n' "$out" | sed -n "s/^$1: //p" | head -1; }
is() { test "$(fact "$1")" = "$2"; }

run
check "stock glibc 2.31: initdb finds shm_open failing and falls back to System V" is initdb sysv
check "stock glibc 2.31: a server with POSIX dynamic shared memory does not start (ENOSYS)" \
  test -n "$(fact start | grep -F 'could not open shared memory segment' | grep -F 'Function not implemented')"

run --opt "$opt"
check "lambshm: initdb finds shm_open working and picks POSIX" is initdb posix
check "lambshm: the server starts" is start ok
check "lambshm: the postmaster runs on lambshm's libpthread and librt" \
  test "$(fact libpthread) $(fact librt)" = "/opt/lib/overlay/libpthread.so.0 /opt/lib/overlay/librt.so.1"
check "lambshm: a parallel aggregate launches all 4 workers" is workers "Planned 4 Launched 4 "
check "lambshm: and gets the right sum" is sum 20000100000
check "lambshm: the server's control segment is in the backing directory" is "segments while running" 1
check "lambshm: pgbench, 8 clients x 150 transactions, all processed" \
  is pgbench "exit 0 number of transactions actually processed: 1200/1200 "
check "lambshm: pgbench's balances add up" is "pgbench balance" t
check "lambshm: the server stops cleanly and leaves nothing behind" \
  test "$(fact stop) $(fact "objects after")" = "0 0"
tap_finish
