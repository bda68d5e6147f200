#!/bin/sh
# Runs one workload inside tests/harness/lambda-sandbox (read-only root, /tmp, no
# /dev/shm), the layer at /opt, Lambda's own LD_LIBRARY_PATH in the
# environment, this directory at /mnt:
#
#   run_case.sh both PYTHON CASE   stock, then with lambshm exactly as
#                                  deployed (the exec wrapper), then what is
#                                  left in the backing directory
#   run_case.sh plain PYTHON CASE  stock only (with --dev-shm: the baseline)
#
# CASE is one of libs_workload.py's, "boost" (compiled here with the
# userland's g++), or "mp:METHOD", "mp:leak:METHOD", "mp:hook",
# "mp:hook:KIND" (../lambda/mp_workload.py's arguments).  Prints
#   stock: rc=N time=S          then the run's output, each line prefixed "| "
#   lambshm: rc=N time=S        likewise
#   left: N                     objects in /tmp/shm afterwards
mode="$1" python="$2" case="$3"
case "$case" in
  boost)
    # Lambda's LD_LIBRARY_PATH is irrelevant to the compiler: keep it stock.
    if ! out=$(env -u LD_LIBRARY_PATH g++ -O1 -o /tmp/boost_ipc /mnt/boost_ipc.cpp -pthread -lrt 2>&1); then
      printf 'compile: failed\n%s\n' "$out" | sed '2,$s/^/| /'
      exit 1
    fi
    set -- /tmp/boost_ipc ;;
  mp:leak:*) set -- "$python" /mnt/mp_workload.py leak "${case#mp:leak:}" ;;
  mp:hook) set -- "$python" /mnt/mp_workload.py hook ;;
  mp:hook:*) set -- "$python" /mnt/mp_workload.py hook "${case#mp:hook:}" ;;
  mp:*) set -- "$python" /mnt/mp_workload.py "${case#mp:}" /tmp/shm ;;
  *) set -- "$python" /mnt/libs_workload.py "$case" ;;
esac
now() { date +%s.%N; }
timed() {  # LABEL COMMAND...
  label="$1"; shift
  start=$(now)
  out=$("$@" 2>&1)
  rc=$?
  end=$(now)
  printf '%s: rc=%s time=%s\n' "$label" "$rc" "$(echo "$end $start" | awk '{printf "%.2f", $1 - $2}')"
  printf '%s\n' "$out" | sed 's/^/| /'
}
timed stock "$@"
[ "$mode" = both ] || exit 0
timed lambshm /opt/bin/lambshm-exec-wrapper "$@"
# The objects the backing directory still names, files or names in the
# table (lambshm ls: one line each after its header; nothing when empty).
objects_left() { /opt/bin/lambshm ls 2>/dev/null | sed -n '/^KIND /d; /^(USED BY/d; /./p'; }
# A resource tracker may still be unlinking after its program exited.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  [ -z "$(objects_left)" ] && break
  sleep 0.5
done
printf 'left: %s\n' "$(objects_left | wc -l)"
objects_left | sed 's/^/| left /'
exit 0
