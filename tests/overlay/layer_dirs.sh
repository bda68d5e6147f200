# Sourced by this directory's drivers: the two directories a sandbox run needs.
#   layer_dirs LIB... -- FILE...
# sets $opt to a layer with the LIBs in lib/overlay (mounted at /opt, first
# in the sandbox's LD_LIBRARY_PATH) and $mnt to a directory holding the
# FILEs (mounted read-only at /mnt); both readable by the sandbox's user and
# removed when the script exits.
layer_dirs() {
  opt=$(mktemp -d) mnt=$(mktemp -d)
  trap 'rm -rf "$opt" "$mnt"' EXIT
  mkdir -p "$opt/lib/overlay"
  while [ "$1" != -- ]; do cp "$1" "$opt/lib/overlay/"; shift; done
  shift
  [ $# -eq 0 ] || cp "$@" "$mnt/"
  chmod -R a+rX "$opt" "$mnt"
}
