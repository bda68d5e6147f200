#!/usr/bin/env bash
# The entry point of the lambshm command (cli/start.cpp), on this machine's
# glibc, and in the Lambda-like sandbox on glibc 2.31 (bullseye) and on this
# machine's userland (--host): constructors run exactly once, environ is
# libc's, destructors run.  TAP.
# Usage: startup_test.sh SANDBOX PROBE [RUNNER...]
#   RUNNER: how to run a program of the target on this machine; in a cross
#   build, tests/harness/target-exec (the sandbox's userlands are the target's, from
#   LAMBSHM_SANDBOX_ARCH).
set -u
sandbox="$1" probe="$2"
shift 2
runner=("$@")
n=0 failed=0
want=$'constructors ran 1 time(s)\nenviron is main\'s envp\ngetenv works\nargv[2] = two words\ndestructor ran'
# check WHERE OUTPUT: OUTPUT is the glibc version on one line, then the probe's.
check() {
  local where="$1" out="$2"
  local version="${out%%$'\n'*}" rest="${out#*$'\n'}"
  n=$((n + 1))
  if [ "$rest" = "$want" ]; then echo "ok $n - glibc $version ($where)"; else
    failed=$((failed + 1)); echo "not ok $n - glibc $version ($where)"; echo "$out" | sed 's/^/# /'; fi
}
version_then_probe='ldd --version | sed -n "1s/.* //p"; exec "$0" one "two words"'
check "this machine" \
  "$(LAMBSHM_STARTUP_PROBE=yes "${runner[@]}" /bin/sh -c "$version_then_probe" "$probe" 2>&1)"
if [ "$(id -u)" = 0 ]; then
  mnt=$(mktemp -d)
  trap 'rm -rf "$mnt"' EXIT
  cp "$probe" "$mnt/probe" && chmod -R a+rX "$mnt"
  for where in bullseye --host; do
    rootfs=()
    [ "$where" = --host ] && rootfs=(--host)
    check "sandbox, ${where#--}" \
      "$("$sandbox" "${rootfs[@]}" --mnt "$mnt" --env LAMBSHM_STARTUP_PROBE=yes -- \
         /bin/sh -c "$version_then_probe" /mnt/probe 2>&1)"
  done
else
  n=$((n + 1)); echo "ok $n # SKIP the sandbox needs root"
fi
echo "1..$n"
[ "$failed" = 0 ]
