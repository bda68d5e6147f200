#!/usr/bin/env bash
# doctor --for and run against a real ld.so older than 2.30 (upstream glibc
# 2.26, ../shared/glibc's fixture), whose versioned lookup stops at the first
# object loaded under the needed file's name (glibc bug 24741): under the
# overlay, that is lambshm's libpthread.so.0.  Differential: a program built
# against 2.26 (threads and sem_open, -lpthread) is started for real with
# LD_BIND_NOW=1, and doctor must say "would not start" exactly when the
# dynamic linker refuses it, naming the symbol@version it names; run must
# start it either way (falling back to the preload library).  The same
# program on bullseye (ld.so 2.31, where the lookup goes on) must start, and
# doctor must not blame bug 24741.  Checked with our shim and with one that
# has glibc 2.26's version nodes only.
#
# The 2.26 root is the fixture's runtime with busybox as /usr/bin/env,
# /bin/sh and /bin/umount, run as root (it has no setpriv).  Output: TAP.
# A second program links -lrt -lpthread and calls only shm_open: there the
# overlay's librt.so.1 joins the load set, with its own imports.
# Usage: ldso_test.sh SANDBOX LAMBSHM LIBRT SHIM OLD_SHIM PRELOAD FIXTURE SOURCE_DIR
set -u
sandbox="$1" lambshm="$2" librt="$3" shim="$4" old_shim="$5" preload="$6" fixture="$7" sources="$8"
has() { printf '%s\n' "$out" | grep -qF -- "$1"; }

. "$(dirname "$0")/../tap.sh"
tap_needs_root
# FIXTURE is the default; $LAMBSHM_GLIBC_FIXTURES overrides its folder, as
# for tests/harness/glibc-rootfs, and without it the test is a skip that says
# so, as the fixture suite is.
[ -n "${LAMBSHM_GLIBC_FIXTURES:-}" ] && fixture="$LAMBSHM_GLIBC_FIXTURES/$(basename "$fixture")"
if [ ! -f "$fixture" ]; then
  echo "1..0 # SKIP no glibc 2.26 fixture at $fixture (set LAMBSHM_GLIBC_FIXTURES)"
  exit 0
fi
busybox=$(command -v busybox) || { apt-get install -y -q busybox-static >/dev/null 2>&1; busybox=$(command -v busybox); }
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  not_ok "a static busybox for the 2.26 root" "install busybox-static"
  tap_finish
  exit
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$fixture" -C "$work"
sysroot=$(echo "$work"/glibc-2.26-*)
root="$work/root"
mkdir -p "$root/usr/bin" "$root/bin"
cp -a "$sysroot/lib64" "$sysroot/lib" "$root/"
cp "$busybox" "$root/usr/bin/env"  # a copy: the sandbox reads its ELF header from outside
cp "$busybox" "$root/bin/busybox"
for tool in sh umount; do ln -s busybox "$root/bin/$tool"; done  # the sandbox's own needs
mkdir -p "$root/tmp" "$root/proc" "$root/dev" "$root/opt" "$root/mnt"

mkdir "$work/mnt"
# As the fixture's README says (and without this machine's LIBRARY_PATH).
build() {
  env -u LIBRARY_PATH gcc -O2 --sysroot="$sysroot" -B"$sysroot/usr/lib64" -L"$sysroot/usr/lib64" \
    -L"$sysroot/lib64" -Wl,-rpath-link="$sysroot/lib64" \
    -Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2 -o "$work/mnt/$1" "$sources/$1.c" "${@:2}" \
    || { not_ok "build $1 against glibc 2.26"; tap_finish; exit; }
}
build threads -lpthread
build rt -lrt -lpthread
. "$(dirname "$0")/layers.sh"
chmod -R a+rX "$work"

# in_sandbox ROOT(2.26|2.31) WHICH COMMAND: the overlay first in LD_LIBRARY_PATH.
in_sandbox() {
  local where=(--rootfs "$root" --as-root)
  [ "$1" = 2.31 ] && where=(--suite bullseye)
  out=$("$sandbox" "${where[@]}" --opt "$work/$2" --mnt "$work/mnt" -- /bin/sh -c "$3" 2>&1)
  rc=$?
}

L=/opt/bin/lambshm
for prog in threads rt; do
for which in new old; do
  # The truth: the dynamic linker's own answer, every symbol bound at start.
  in_sandbox 2.26 "$which" "LD_BIND_NOW=1 /mnt/$prog"
  real_rc=$rc real="$out"
  missing=$(printf '%s\n' "$real" | sed -n 's/.*symbol \([^,]*\), version \([^ ]*\) not defined in file libpthread.so.0.*/\1@\2/p' | head -1)
  # The object whose import failed, as ld.so names it.
  user=$(printf '%s\n' "$real" | sed -n 's/.*relocation error: \([^:]*\): symbol .*/\1/p' | head -1)
  in_sandbox 2.26 "$which" "$L doctor --for /mnt/$prog"
  doctor="$out" doctor_rc=$rc
  if [ "$real_rc" = 0 ]; then
    out="$real
$doctor"
    check "$prog, glibc 2.26, $which shim: the program starts, and doctor says nothing would stop it" \
      test -z "$(has 'would not start' && echo y)" -a "$doctor_rc" = 0
  else
    out="$real
$doctor"
    check "$prog, glibc 2.26, $which shim: the program does not start (ld.so: ${user:-?} lacks ${missing:-?}), and doctor says so, naming both and bug 24741 (status 1)" \
      test -n "$missing" -a -n "$(has "would not start: ${user##*/} needs $missing from libpthread.so.0" && has 'bug 24741' && echo y)" -a "$doctor_rc" = 1
  fi
  out="$doctor"
  check "$prog, glibc 2.26, $which shim: doctor names the dynamic linker's rule" has "dynamic linker: before 2.30 (glibc bug 24741)"

  in_sandbox 2.26 "$which" "LD_LIBRARY_PATH= $L run /mnt/$prog"
  check "$prog, glibc 2.26, $which shim: lambshm run starts it (the preload library when the overlay would not)" \
    test "$rc" = 0 -a -n "$(has "$prog: ok" && echo y)"
  if [ "$real_rc" != 0 ]; then
    check "and says it uses the preload library instead" has "using the preload library instead"
  fi

  # ld.so 2.31: the lookup goes on to the stock libpthread.
  in_sandbox 2.31 "$which" "LD_BIND_NOW=1 /mnt/$prog; echo rc=\$?; $L doctor --for /mnt/$prog"
  check "$prog, glibc 2.31, $which shim: the program starts, and doctor neither blames bug 24741 nor says it would not start" \
    test -n "$(has "$prog: ok" && has 'rc=0' && echo y)" -a -z "$(has 'bug 24741' && echo y)$(has 'would not start' && echo y)"
done
done
tap_finish
