#!/usr/bin/env bash
# abitool check-overlay against upstream glibc 2.26's real libraries,
# unpacked from the fixture tarball (../shared/glibc/README.md).
#   overlay_fixture_test.sh PYTHON ABITOOL READELF OUR_LIBPTHREAD OUR_LIBRT FIXTURES TARBALL
# FIXTURES is the default folder; $LAMBSHM_GLIBC_FIXTURES overrides it.
set -euo pipefail
python=$1 abitool=$2 readelf=$3 libpthread=$4 librt=$5
tarball="${LAMBSHM_GLIBC_FIXTURES:-$6}/$7"
if [ ! -f "$tarball" ]; then
  echo "1..0 # SKIP no glibc fixture at $tarball"
  exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tar -xJf "$tarball" -C "$dir" --wildcards '*/lib64/*'
exec "$python" "$abitool" --readelf "$readelf" check-overlay --libpthread "$libpthread" \
  --librt "$librt" --stock-dir "$(echo "$dir"/*/lib64)"
