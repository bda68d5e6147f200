#!/usr/bin/env bash
# An OS-only runtime (provided.al2023) in the Lambda-like sandbox (TAP): the
# runtime runs the function's "bootstrap" itself and never reads
# AWS_LAMBDA_EXEC_WRAPPER, so the layer's wrapper cannot help there; what
# works is LD_PRELOAD=/opt/lib/liblambshm-preload.so in the function's
# environment (docs/lambda.md).  bookworm (glibc 2.36) stands in for Amazon
# Linux 2023 (2.34), the layer is at /opt, the environment is Lambda's; the
# function's directory is /mnt (the sandbox's root has no /var/task).
#   - a C bootstrap (shm_open, sem_open, fork): fails stock, works with the
#     setting;
#   - a Python bootstrap (examples/lambda_handler.py): fails stock; with
#     LD_PRELOAD alone multiprocessing.Value still fails (CPython looks for
#     /dev/shm itself), with PYTHONPATH=/opt/python/run too it works, and so
#     it does with `lambshm run` in the bootstrap and nothing set.
# Usage: provided_test.sh SANDBOX LAYER_TOOL BUILD BOOTSTRAP
set -uo pipefail
sandbox="$1" layer_tool="$2" build="$3" bootstrap="$4"
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$top/tests/tap.sh"
tap_needs_root
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$layer_tool" "$build" "$work/opt"
mkdir "$work/task"
cp "$bootstrap" "$work/task/bootstrap"
cp "$top/examples/lambda_handler.py" "$work/task/"
cat > "$work/task/invoke.py" <<'PY'
import json, sys, traceback
sys.path.insert(0, "/mnt")
try:
    import lambda_handler
    print("result", json.dumps(lambda_handler.handler({"count": 12, "limit": 3}, None)))
except Exception as e:
    print("error", "".join(traceback.format_exception_only(type(e), e)).strip())
    sys.exit(1)
PY
printf '#!/bin/sh\nexec /usr/bin/python3 /mnt/invoke.py\n' > "$work/task/python-bootstrap"
printf '#!/bin/sh\nexec /opt/bin/lambshm run /usr/bin/python3 /mnt/invoke.py\n' > "$work/task/run-bootstrap"
chmod 755 "$work/task/bootstrap" "$work/task/python-bootstrap" "$work/task/run-bootstrap"
chmod -R a+rX "$work"

# provided.al2023's environment: Lambda's library path, /opt/bin on PATH.
run() {  # BOOTSTRAP [--env K=V]...
  local script="$1"
  shift
  out=$("$sandbox" --suite bookworm --opt "$work/opt" --mnt "$work/task" \
    --env LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib \
    --env PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin --env LAMBDA_TASK_ROOT=/mnt \
    "$@" -- "/mnt/$script" 2>&1)
}
preload=(--env LD_PRELOAD=/opt/lib/liblambshm-preload.so)

run bootstrap
case "$out" in
  *"bootstrap: shm_open: No such file or directory"*) ok "C bootstrap, stock: shm_open fails with ENOENT" ;;
  *) not_ok "C bootstrap, stock: shm_open fails with ENOENT" "$out" ;;
esac
run bootstrap "${preload[@]}"
case "$out" in
  *"bootstrap: ok"*) ok "C bootstrap, LD_PRELOAD=/opt/lib/liblambshm-preload.so: shm_open, sem_open, fork work" ;;
  *) not_ok "C bootstrap, LD_PRELOAD=/opt/lib/liblambshm-preload.so: works" "$out" ;;
esac
run python-bootstrap
case "$out" in
  *"error FileNotFoundError: [Errno 2] No such file or directory"*)
    ok "Python bootstrap, stock: FileNotFoundError" ;;
  *) not_ok "Python bootstrap, stock: FileNotFoundError" "$out" ;;
esac
run python-bootstrap "${preload[@]}"
case "$out" in
  *"error FileNotFoundError: [Errno 2] No such file or directory: '/dev/shm'"*)
    ok "Python bootstrap, LD_PRELOAD alone: multiprocessing.Value still looks for /dev/shm" ;;
  *) not_ok "Python bootstrap, LD_PRELOAD alone: multiprocessing.Value still looks for /dev/shm" "$out" ;;
esac
run python-bootstrap "${preload[@]}" --env PYTHONPATH=/opt/python/run
case "$out" in
  *'"statusCode": 200'*) ok "Python bootstrap, LD_PRELOAD and PYTHONPATH=/opt/python/run: statusCode 200" ;;
  *) not_ok "Python bootstrap, LD_PRELOAD and PYTHONPATH=/opt/python/run: statusCode 200" "$out" ;;
esac
run run-bootstrap
case "$out" in
  *'"statusCode": 200'*) ok "Python bootstrap through lambshm run, nothing set: statusCode 200" ;;
  *) not_ok "Python bootstrap through lambshm run, nothing set: statusCode 200" "$out" ;;
esac
tap_finish
