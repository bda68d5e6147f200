#!/usr/bin/env bash
# aio_client.c, compiled in the Debian bullseye userland with its own gcc, in
# the Lambda-like sandbox: it runs with stock glibc 2.31's librt and, unchanged,
# with lambshm's librt.so.1 first in LD_LIBRARY_PATH; both runs must succeed
# and print the same transcript (a differential against real glibc 2.31,
# including the GLIBC_2.2.5 lio_listio).  Output: TAP.
# Usage: aio_client_test.sh SANDBOX LIBRT
set -u
sandbox="$1" librt="$2"
here="$(cd "$(dirname "$0")" && pwd)"

. "$here/../tap.sh"
tap_needs_root

. "$here/layer_dirs.sh"
layer_dirs "$librt" -- "$here/aio_client.c"

# One sandbox: build once, run twice; transcripts are compared out here.
script='cd /tmp && gcc -O2 -Wall -Werror -o aio_client /mnt/aio_client.c -pthread -lrt -ldl || exit 3
LD_LIBRARY_PATH= ./aio_client > stock.txt 2>&1; echo "stock exit $?" >> stock.txt
./aio_client > ours.txt 2>&1; echo "ours exit $?" >> ours.txt
cat stock.txt; echo "=== ours"; cat ours.txt'
out=$("$sandbox" --opt "$opt" --mnt "$mnt" -- /bin/sh -c "$script" 2>&1)
rc=$?
stock=$(printf '%s\n' "$out" | sed '/^=== ours$/,$d')
ours=$(printf '%s\n' "$out" | sed '1,/^=== ours$/d')

if [ "$rc" = 0 ]; then ok "aio_client.c builds with bullseye's gcc and -lrt"; else not_ok "aio_client.c builds with bullseye's gcc and -lrt" "$out"; fi
if printf '%s\n' "$stock" | grep -qx 'stock exit 0' && printf '%s\n' "$stock" | grep -qx 'aio-client: ok'; then
  ok "it succeeds with stock glibc 2.31"
else
  not_ok "it succeeds with stock glibc 2.31" "$stock"
fi
if printf '%s\n' "$ours" | grep -qx 'ours exit 0' && printf '%s\n' "$ours" | grep -qx 'aio-client: ok'; then
  ok "it succeeds, unchanged, with lambshm's librt first in LD_LIBRARY_PATH"
else
  not_ok "it succeeds, unchanged, with lambshm's librt first in LD_LIBRARY_PATH" "$ours"
fi
if printf '%s\n' "$ours" | grep -qx 'librt: /opt/lib/overlay/librt.so.1' &&
   ! printf '%s\n' "$stock" | grep -q 'librt: /opt/'; then
  ok "the runs were served by lambshm's librt and by the stock one"
else
  not_ok "the runs were served by lambshm's librt and by the stock one" \
    "$(printf '%s\n' "$stock" "$ours" | grep '^librt:')"
fi
strip() { grep -v -e '^librt: ' -e '^stock exit' -e '^ours exit'; }
difference=$(diff <(printf '%s\n' "$stock" | strip) <(printf '%s\n' "$ours" | strip))
if [ -z "$difference" ] && [ "$(printf '%s\n' "$stock" | strip | wc -l)" -gt 50 ]; then
  ok "both print the same transcript ($(printf '%s\n' "$ours" | strip | wc -l) lines)"
else
  not_ok "both print the same transcript (< stock glibc 2.31, > lambshm)" "$difference"
fi

tap_finish
