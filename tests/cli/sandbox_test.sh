#!/usr/bin/env bash
# The lambshm command in the Lambda-like sandbox (no /dev/shm, no tmpfs,
# uid 993), installed as a release lays it out (/opt/bin/lambshm,
# /opt/lib, /opt/python), as a Lambda layer would be:
#   - bullseye (glibc 2.31), stock: doctor says what fails and that run fixes it;
#   - bullseye with `lambshm run` (overlay): doctor agrees, multiprocessing works
#     (Queue, Lock, Value through the Python hook, shared_memory);
#   - ls/rm/gc on objects made by real programs, ls --json parsed by Python;
#   - a hostile and a symlinked backing directory: refused by everything;
#   - the host's glibc 2.36 (--host): doctor, and run by preload.
# Output: TAP.  Usage: sandbox_test.sh SANDBOX LAMBSHM LIBRT SHIM PYTHON_DIR PRELOAD
# (the tree is laid out by packaging/layer from LAMBSHM's build directory)
set -u
sandbox="$1" lambshm="$2" librt="$3" shim="$4" python_dir="$5" preload="$6"
here="$(cd "$(dirname "$0")" && pwd)"
has() { printf '%s\n' "$out" | grep -qF -- "$1"; }
lacks() { ! has "$1"; }

. "$here/../tap.sh"
tap_needs_root

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
opt="$work/opt"
# The shipped tree, from its one definition (packaging/meson.build, through meson install).
"$here/../../packaging/layer" "$(cd "$(dirname "$lambshm")/.." && pwd)" "$opt"
have_preload=0
if [ -f "$opt/lib/liblambshm-preload.so" ]; then have_preload=1; fi
chmod -R a+rX "$opt" "$here/sandbox"

# Runs a shell command line in the sandbox; $out gets its output, $rc its status.
in_sandbox() {
  local rootfs_args=()
  while [ "${1:0:2}" = "--" ]; do rootfs_args+=("$1"); shift; done
  out=$("$sandbox" "${rootfs_args[@]}" --opt "$opt" --mnt "$here/sandbox" -- /bin/sh -c "$1" 2>&1)
  rc=$?
}
L=/opt/bin/lambshm
# What differs by architecture (the sandbox's userlands are LAMBSHM_SANDBOX_ARCH's).
case "${LAMBSHM_SANDBOX_ARCH:-$(dpkg --print-architecture)}" in
  arm64) triplet=aarch64-linux-gnu old_version=GLIBC_2.17 ;;
  *) triplet=x86_64-linux-gnu old_version=GLIBC_2.2.5 ;;
esac
stock='LD_LIBRARY_PATH='  # the sandbox puts /opt/lib/overlay in LD_LIBRARY_PATH; a stock run clears it

# --- bullseye, stock ---------------------------------------------------------------
in_sandbox "$stock $L doctor"
check "bullseye stock: doctor fails (status 1) and says why: ENOSYS, no tmpfs" \
  test "$rc" = 1 -a -n "$(has 'fail with ENOSYS' && has 'no tmpfs is mounted' && echo y)"
check "bullseye stock: doctor says lambshm run fixes it" has "To fix: run it under lambshm"
check "bullseye stock: doctor picks the overlay for glibc 2.31" has "lambshm run: would use overlay"
check "doctor: on the sandbox's disk /tmp, shm objects are memfds held by the keeper" \
  has "shm objects: memfds held by lambshm-keeper"

in_sandbox "$stock $L doctor --for python3"
check "doctor --for python3: stock libpthread/librt as things stand, status 1" \
  test "$rc" = 1 -a -n "$(has "sem_open@$old_version" && has "/lib/$triplet/libpthread.so.0 (stock glibc)" && echo y)"
check "doctor --for python3: under lambshm run, lambshm's libraries and the hook" \
  test -n "$(printf '%s\n' "$out" | sed -n '/under lambshm run:/,$p' | grep -F '/opt/lib/overlay/libpthread.so.0 (lambshm)')" \
       -a -n "$(printf '%s\n' "$out" | sed -n '/under lambshm run:/,$p' | grep -F '/opt/lib/overlay/librt.so.1 (lambshm)')" \
       -a -n "$(printf '%s\n' "$out" | sed -n '/under lambshm run:/,$p' | grep -F 'multiprocessing hook: loaded')"

in_sandbox "$stock python3 /mnt/mp.py"
check "stock python3: multiprocessing fails with ENOSYS, as on Lambda" \
  test "$rc" != 0 -a -n "$(has 'Function not implemented' && echo y)"

# A /dev/shm that exists but cannot be written: stock glibc adopts it and fails.
for kind in ro root; do
  case $kind in
    ro) errno=EROFS python='OSError: [Errno 30]' ;;
    root) errno=EACCES python='PermissionError: [Errno 13]' ;;
  esac
  in_sandbox "--dev-shm-$kind" "$stock $L doctor"
  check "--dev-shm-$kind: doctor fails (status 1) with $errno, as Python's $python" \
    test "$rc" = 1 -a -n "$(has "fail with $errno (Python: $python" && echo y)"
  in_sandbox "--dev-shm-$kind" "$stock $L run python3 /mnt/mp.py"
  check "--dev-shm-$kind: lambshm run python3 works" test "$rc" = 0 -a "$out" = "mp ok 2 42 7"
done

# --- bullseye, lambshm run (overlay) ---------------------------------------------------
in_sandbox "$stock $L run $L doctor --for python3"
check "lambshm run lambshm doctor --for python3: works, status 0" \
  test "$rc" = 0 -a -n "$(has 'Verdict: shared memory will work for python3' && echo y)"

# Nothing left: lambshm ls lists files and the names in the table (a memfd
# object's short name is no file), never the marker or the table itself.
in_sandbox "$stock $L run python3 /mnt/mp.py && $L ls"
check "lambshm run python3: Queue, Lock, Value and shared_memory work" test "$rc" = 0 -a "$out" = "mp ok 2 42 7"

in_sandbox "$stock $L run --dir /tmp/elsewhere python3 /mnt/objects.py lt && $L ls --dir /tmp/elsewhere | awk 'NR > 1 && \$1 !~ /^[(]/ { print \$1, \$2 }' && test ! -e /tmp/shm"
check "lambshm run --dir puts the objects there" \
  test "$rc" = 0 -a "$(printf '%s\n' "$out" | tr '\n' ' ')" = "made shm lt-box sem lt-sem "

# The hook costs every interpreter start (spawned workers too): it is exec'd,
# never imported (an import's compile() builds the interpreter's AST types),
# and it never imports importlib.util (a costly import), at start-up or when
# it patches the heap.
in_sandbox "$stock $L run python3 -X importtime -c 'import sys, multiprocessing.heap as h; print(\"lambshm_mp_hook\" in sys.modules, h.Arena._dir_candidates)'"
check "lambshm run python3: the hook is exec'd, not imported, and patches the heap without importlib.util" \
  test -n "$(has "True ['/tmp/shm']" && echo y)" -a -z "$(has 'importlib.util' && echo y)" \
    -a -z "$(printf '%s\n' "$out" | grep -E '[|] +lambshm_mp_hook$')"

in_sandbox "$stock $L run --no-python-hook python3 -c 'import sys; print(\"lambshm_mp_hook\" in sys.modules)'"
check "lambshm run --no-python-hook: no hook" test "$rc" = 0 -a "$out" = "False"

in_sandbox "$stock PYTHONPATH=/mnt/shadowed $L run python3 -c 'import builtins, sys, sitecustomize; print(\"lambshm_mp_hook\" in sys.modules, builtins.LAMBSHM_TEST_SHADOWED, sitecustomize.__file__)'"
check "lambshm's sitecustomize loads the hook, then the program's own sitecustomize" \
  test "$rc" = 0 -a "$out" = "True ran /mnt/shadowed/sitecustomize.py"
in_sandbox "$stock $L run python3 -c 'import sitecustomize; print(sitecustomize.__file__)'"
check "and otherwise the system's (Debian's /usr/lib/python3.9/sitecustomize.py)" \
  test "$rc" = 0 -a "$out" = "/usr/lib/python3.9/sitecustomize.py"

# --- ls, rm, gc on real objects ---------------------------------------------------------
in_sandbox "$L run python3 /mnt/objects.py lt >/dev/null && $L ls && $L ls --json | python3 /mnt/check_ls.py && $L rm -v lt-box && $L rm lt-box; echo rm=\$?; $L gc --older-than 0 && $L ls --json | python3 /mnt/check_ls.py && $L ls"
check "ls in the sandbox: the table" \
  test -n "$(printf '%s\n' "$out" | grep -E '^sem +lt-sem +32 +sbx_user1051 +0600 .* 5 ')" \
       -a -n "$(printf '%s\n' "$out" | grep -E '^shm +lt-box +4096 +sbx_user1051 +0600 ')"
check "ls --json in the sandbox: valid, with size, mode, value and uid" \
  test -n "$(has 'shm lt-box 4096 0600 None 993' && has 'sem lt-sem 32 0600 5 993' && echo y)"
check "rm removes it, and says so for a name already gone (status 1)" \
  test -n "$(has 'removed shm lt-box' && has 'lt-box: no such object' && has 'rm=1' && echo y)"
check "gc --older-than 0 removes the rest" \
  test -n "$(has 'removed sem lt-sem (32 B' && echo y)" -a "$(printf '%s\n' "$out" | tail -1)" = "gc: removed 1 object (32 B); kept 0 in use, 0 changed within 0s"

# A missing backing directory whose parent is both read-only and full: both reasons, apart.
in_sandbox --as-root "mkdir /tmp/full && mount -t tmpfs -o size=64k none /tmp/full &&
  (dd if=/dev/zero of=/tmp/full/fill bs=4k 2>/dev/null; true) && mount -o remount,ro /tmp/full &&
  LAMBSHM_DIR=/tmp/full/shm $L doctor"
check "doctor: a read-only, full parent gives both reasons, separated" \
  has "/tmp/full is read-only; /tmp/full has no free space."

# --- A hostile backing directory, a symlinked one ------------------------------------------
as_user='setpriv --reuid=993 --regid=990 --clear-groups --inh-caps=-all'
in_sandbox --as-root "mkdir -m 0777 /tmp/hostile && chmod 0777 /tmp/hostile && chown 1234:1234 /tmp/hostile && touch /tmp/hostile/planted && mkdir -m 1777 /tmp/real && ln -s /tmp/real /tmp/link && touch /tmp/real/planted &&
  for d in /tmp/hostile /tmp/link; do
    export LAMBSHM_DIR=\$d
    $as_user $L doctor; echo doctor=\$?
    $as_user $L ls; echo ls=\$?
    $as_user $L rm planted; echo rm=\$?
    $as_user $L gc --older-than 0; echo gc=\$?
    $as_user $L run python3 -c 'import multiprocessing as mp; mp.Lock()' 2>&1 | tail -1; echo run=\$?
  done; ls /tmp/hostile /tmp/real"
check "hostile directory: doctor explains the refusal (status 1)" \
  test -n "$(has 'refused: it is writable by others without the sticky bit' && echo y)" \
       -a "$(printf '%s\n' "$out" | grep -c '^doctor=1$')" = 2
check "symlinked directory: doctor explains the refusal" has "refused: it is a symbolic link"
check "ls, rm and gc refuse both (status 1)" \
  test "$(printf '%s\n' "$out" | grep -cE '^(ls|rm|gc)=1$')" = 6
check "the libraries refuse them too (PermissionError)" \
  test "$(printf '%s\n' "$out" | grep -c 'PermissionError')" = 2
check "nothing planted was removed" \
  test -n "$(printf '%s\n' "$out" | tr '\n' ' ' | grep -F '/tmp/hostile: planted  /tmp/real: planted')"

# --- glibc 2.36 (the host's userland) ---------------------------------------------------
in_sandbox --host "$stock $L doctor"
check "glibc 2.36: doctor fails with ENOENT, picks the preload" \
  test "$rc" = 1 -a -n "$(has 'fail with ENOENT' && has 'lambshm works by preload' && echo y)"
in_sandbox --host "$L run python3 -c 'print(1)'"
if [ "$have_preload" = 1 ]; then
  check "glibc 2.36: lambshm run starts the command with the preload library" test "$rc" = 0 -a "$out" = 1
  in_sandbox --host "$L run $L doctor --for python3; echo rc=\$?; $L run python3 /mnt/mp.py"
  check "glibc 2.36: under lambshm run, doctor agrees and multiprocessing works" \
    test -n "$(has 'rc=0' && has 'mp ok 2 42 7' && echo y)"
else
  check "glibc 2.36 without the preload library: run says so, status 125" \
    test "$rc" = 125 -a -n "$(has 'preload library /opt/lib/liblambshm-preload.so is missing' && echo y)"
  skip "glibc 2.36: run by preload" "the preload library is not built in this tree"
fi

tap_finish
