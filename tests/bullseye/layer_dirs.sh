# Sourced by the bullseye drivers: the two directories a sandbox run needs.
#   layer_dirs LIB... -- FILE...
# sets $opt to a layer with the LIBs in lib/overlay (mounted at /opt, first
# in the sandbox's LD_LIBRARY_PATH) and $mnt to a directory holding the
# FILEs (mounted read-only at /mnt), and $LAMBSHM_TEST_KEEPER (when set) in
# lib/; both readable by the sandbox's user and
# removed when the script exits.
layer_dirs() {
  opt=$(mktemp -d) mnt=$(mktemp -d)
  trap 'rm -rf "$opt" "$mnt"' EXIT
  mkdir -p "$opt/lib/overlay"
  while [ "$1" != -- ]; do cp "$1" "$opt/lib/overlay/"; shift; done
  # The keeper of memfd objects, where tools/layer puts it (lib/, above the overlay).
  [ -z "${LAMBSHM_TEST_KEEPER:-}" ] || cp "$LAMBSHM_TEST_KEEPER" "$opt/lib/"
  shift
  [ $# -eq 0 ] || cp "$@" "$mnt/"
  chmod -R a+rX "$opt" "$mnt"
}
