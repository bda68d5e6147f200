#!/usr/bin/env bash
# The entry point of the lambshm command (cli/start.cpp), on this machine's
# glibc and on glibc 2.31 in the bullseye sandbox: constructors run exactly
# once, environ is libc's, destructors run.  TAP.
# Usage: startup_test.sh SANDBOX PROBE
set -u
sandbox="$1" probe="$2"
n=0 failed=0
check() {
  local what="$1" out="$2"
  local want=$'constructors ran 1 time(s)\nenviron is main\'s envp\ngetenv works\nargv[2] = two words\ndestructor ran'
  n=$((n + 1))
  if [ "$out" = "$want" ]; then echo "ok $n - $what"; else
    failed=$((failed + 1)); echo "not ok $n - $what"; echo "$out" | sed 's/^/# /'; fi
}
check "glibc $(ldd --version | sed -n '1s/.* //p') (this machine)" \
  "$(LAMBSHM_STARTUP_PROBE=yes "$probe" one "two words" 2>&1)"
if [ "$(id -u)" = 0 ]; then
  mnt=$(mktemp -d)
  trap 'rm -rf "$mnt"' EXIT
  cp "$probe" "$mnt/probe" && chmod -R a+rX "$mnt"
  check "glibc 2.31 (bullseye sandbox)" \
    "$("$sandbox" --mnt "$mnt" --env LAMBSHM_STARTUP_PROBE=yes -- /mnt/probe one "two words" 2>&1)"
else
  n=$((n + 1)); echo "ok $n # SKIP glibc 2.31: the sandbox needs root"
fi
echo "1..$n"
[ "$failed" = 0 ]
