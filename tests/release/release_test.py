#!/usr/bin/env python3
"""What users deploy, tested as they deploy it (TAP):

  1. packaging/package makes the release tarball and the Lambda layer zip, with
     the documented layout and a MANIFEST of exported symbols;
  2. the end-to-end C client (tests/overlay/client.c) runs from the unpacked
     tarball in the bullseye userland;
  3. the layer zip, unpacked at /opt in the Lambda-like sandbox, runs the
     example function through lambshm-exec-wrapper exactly as Lambda's
     bootstrap invokes it (AWS_LAMBDA_EXEC_WRAPPER RUNTIME ARGS...), with
     Lambda's own LD_LIBRARY_PATH, on the AL2-style userland (bullseye,
     glibc 2.31: overlay) and the AL2023-style one (this machine, glibc 2.36:
     preload); with spaces in the wrapper's path and in arguments; and the
     wrapper's failures are clear;
  4. the wrapper and `lambshm run` make the same settings;
  5. the Dockerfiles: every file they copy exists in the tarball, and the
     environment they set, with the files where they put them, runs the
     example function in the sandbox; a pinned base tag keeps the
     site-packages path; provided.al2023's runs a C program and
     examples/provided/bootstrap against a stand-in for the runtime API.

Usage: release_test.py SANDBOX BUILD
"""
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layout import DOCUMENTS, RELEASE_TREE, bytecode_problems, host_cache_tag, split_bytecode  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAMBDA_LD_LIBRARY_PATH = ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                          "/var/task:/var/task/lib:/opt/lib")
EXPECTED_TREE = RELEASE_TREE
# What Lambda's Python bootstrap amounts to for this test: import the
# function, call its handler, print the result.  Arguments are echoed to show
# they arrive untouched.
INVOKE = """import json, sys, traceback
sys.path.insert(0, "/mnt")
print("argv", json.dumps(sys.argv[1:]))
try:
    import lambda_handler
    print("result", json.dumps(lambda_handler.handler({"count": 12, "limit": 3}, None)))
except Exception as e:
    print("error", "".join(traceback.format_exception_only(type(e), e)).strip())
    sys.exit(1)
"""


def expand(value, env):
    """A Dockerfile ENV value with ${VAR}, ${VAR:+word} and ${VAR:-word}
    expanded as builders do."""
    def one(m):
        name, op, word = m.group(1), m.group(2), m.group(3)
        val = env.get(name, "")
        if op == ":+":
            return expand(word, env) if val else ""
        if op == ":-":
            return val or expand(word, env)
        return val
    return re.sub(r"\$\{(\w+)(?:(:[+-])((?:[^{}]|\$\{[^}]*\})*))?\}", one, value)


class RuntimeApi:
    """A stand-in for Lambda's runtime API on 127.0.0.1: one event, then an
    error for the next (the bootstrap exits); records what it posts."""
    request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"

    def __enter__(self):
        import http.server
        import threading
        api = self
        self.posted = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if api.served:
                    self.send_response(410)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                api.served = True
                body = b"{}"
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", api.request_id)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                api.posted.append((self.path, self.rfile.read(n).decode()))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.served = False
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def unzip_keeping_modes(path, dest):
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            target = os.path.join(dest, info.filename)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(z.read(info))
            os.chmod(target, (info.external_attr >> 16) & 0o777)


def main():
    sandbox, build = sys.argv[1:3]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    tap = Tap(keep=30)
    work = tempfile.mkdtemp(prefix="lambshm-release-")
    try:
        # 1. Packaging.
        dist = os.path.join(work, "dist")
        r = subprocess.run([os.path.join(TOP, "packaging", "package"), build, dist],
                           capture_output=True, text=True)
        tap.check(r.returncode == 0, "packaging/package builds the tarball and the layer", r.stdout + r.stderr)
        if r.returncode != 0:
            return tap.finish()
        tarballs = [f for f in os.listdir(dist) if f.endswith(".tar.gz")]
        zips = [f for f in os.listdir(dist) if f.endswith(".zip")]
        tarball, layer_zip = os.path.join(dist, tarballs[0]), os.path.join(dist, zips[0])
        m = re.match(r"lambshm-(.+)-linux-(x86_64|aarch64)\.tar\.gz$", tarballs[0])
        tap.check(m is not None, f"tarball name {tarballs[0]}")
        top = tarballs[0][: -len(".tar.gz")]
        with tarfile.open(tarball) as t:
            names = sorted(n[len(top) + 1:] + ("/" if t.getmember(n).isdir() else "")
                           for n in t.getnames() if n != top)
            modes = {n[len(top) + 1:]: t.getmember(n).mode for n in t.getnames()}
            manifest = t.extractfile(f"{top}/MANIFEST").read().decode()
            t.extractall(work)
        tree = os.path.join(work, top)
        files, _ = split_bytecode(names)
        tap.check(files == EXPECTED_TREE, "the tarball has exactly the documented layout",
                  f"got {files}")
        problems = bytecode_problems(names, host_cache_tag())
        tap.check(not problems, "the tarball has bytecode of every Python file, for each Python "
                  "the packaging found", "\n".join(problems))
        tap.check(all(modes[p] & 0o111 for p in ("bin/lambshm", "bin/lambshm-exec-wrapper")),
                  "programs are executable")
        tap.check("exports sem_open@@" in manifest and "exports shm_open@@GLIBC_2.34" in manifest
                  and "needs: libc.so.6" in manifest, "MANIFEST lists exports and needs", manifest)
        with zipfile.ZipFile(layer_zip) as z:
            layer_names = sorted(z.namelist())
        documents = {d.rstrip("/") for d in DOCUMENTS}
        tap.check(layer_names == sorted(("share/lambshm/" + p if p.split("/")[0] in documents else p)
                                        for p in names if not p.endswith("/")),
                  "the layer zip has the same tree for /opt, the documents in share/lambshm/",
                  f"got {layer_names}")
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)

        # 2. The C client from the unpacked tarball (bullseye, overlay).
        mnt = os.path.join(work, "mnt")
        os.mkdir(mnt)
        shutil.copy(os.path.join(TOP, "tests", "overlay", "client.c"), mnt)
        shutil.copy(os.path.join(TOP, "examples", "lambda_handler.py"), mnt)
        with open(os.path.join(mnt, "invoke.py"), "w") as f:
            f.write(INVOKE)
        subprocess.run(["chmod", "-R", "a+rX", mnt], check=True)

        def sandbox_run(args, script, timeout=900):
            r = subprocess.run([sandbox, "--mnt", mnt] + args + ["--", "/bin/sh", "-c", script],
                               capture_output=True, text=True, timeout=timeout)
            return r.returncode, r.stdout + r.stderr

        rc, out = sandbox_run(["--opt", tree],
                              "cd /tmp && gcc -O2 -o client /mnt/client.c -pthread -lrt && "
                              "LD_LIBRARY_PATH=/opt/lib/overlay ./client release")
        tap.check(rc == 0 and "client: ok" in out, "the C client runs from the unpacked tarball", out)

        # 3. The layer, through the wrapper, as Lambda runs it.
        layer = os.path.join(work, "layer")
        unzip_keeping_modes(layer_zip, layer)
        subprocess.run(["chmod", "-R", "a+rX", layer], check=True)
        lambda_env = ["--env", f"LD_LIBRARY_PATH={LAMBDA_LD_LIBRARY_PATH}",
                      "--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/bin/lambshm-exec-wrapper"]
        userlands = [("AL2-style (bullseye, glibc 2.31)", [], "overlay"),
                     ("AL2023-style (this machine, glibc 2.36)", ["--host"], "preload")]
        python = "/usr/bin/python3"
        for label, rootfs, mechanism in userlands:
            base = rootfs + ["--opt", layer] + lambda_env
            rc, out = sandbox_run(base, f"{python} /mnt/invoke.py")
            tap.check(rc != 0 and "error" in out,
                      f"{label}: the layer alone does nothing (Lambda's path puts /lib64 first)", out)
            rc, out = sandbox_run(base + ["--env", "LAMBSHM_WRAPPER_DEBUG=1"],
                                  f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} /mnt/invoke.py "two words" \'q"uote\' ""')
            tap.check(rc == 0 and '"statusCode": 200' in out and
                      'argv ["two words", "q\\"uote", ""]' in out and mechanism in out,
                      f"{label}: through the wrapper the function works ({mechanism}), "
                      "arguments untouched", out)
            # From inside the function: is lambshm active and healthy?  Lambda's
            # PYTHONPATH is /var/runtime; the runtime adds a layer's /opt/python
            # to its own sys.path (without the wrapper: import lambshm_check),
            # and a child Python started by the handler has only PYTHONPATH,
            # where the wrapper puts /opt/python/run.
            child = ("import subprocess, sys; "
                     "sys.exit(subprocess.run([sys.executable, '-m', 'lambshm_check']).returncode)")
            for how, check, line, want in (
                    ("through the wrapper, from the handler's child Python", ["--env", "PYTHONPATH=/var/runtime"],
                     f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} -c "{child}"', (0, True, mechanism)),
                    ("without it", ["--env", "PYTHONPATH=/opt/python"], f"{python} -m lambshm_check",
                     (1, False, None))):
                rc, out = sandbox_run(base + check, line)
                try:
                    doc = json.loads(out)
                    got = (rc, doc["ok"], doc["lambshm"])
                except ValueError:
                    doc, got = {}, (rc, None, None)
                tap.check(got == want and (want[1] or "AWS_LAMBDA_EXEC_WRAPPER" in out)
                          and (not want[1] or set(doc["checks"].values()) == {"ok"}),
                          f"{label}: python3 -m lambshm_check {how}: ok={want[1]}, "
                          f"lambshm={want[2]}", out)
            for how, line, want in (
                    ("through the wrapper", '"$AWS_LAMBDA_EXEC_WRAPPER" /opt/bin/lambshm doctor --json',
                     (0, True, True)),
                    ("without it", "/opt/bin/lambshm doctor --json", (1, False, False))):
                rc, out = sandbox_run(base, line)
                try:
                    doc = json.loads(out)
                    got = (rc, doc["works"], doc["active"])
                except ValueError:
                    doc, got = {}, (rc, None, None)
                tap.check(got == want and doc["mechanism"] == mechanism
                          and (want[1] or doc["why"]) and doc["report"],
                          f"{label}: lambshm doctor --json {how}: works={want[1]}, "
                          f"active={want[2]}", out)
            rc, out = sandbox_run(
                base, 'mkdir "/tmp/my layer" && cp -a /opt/. "/tmp/my layer/" && '
                f'"/tmp/my layer/bin/lambshm-exec-wrapper" {python} /mnt/invoke.py "a b"')
            tap.check(rc == 0 and '"statusCode": 200' in out and 'argv ["a b"]' in out,
                      f"{label}: a wrapper path with spaces works", out)
            rc, out = sandbox_run(base + ["--env", "LAMBSHM_DIR=/proc/no/such"],
                                  f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} /mnt/invoke.py')
            tap.check(rc == 125 and "lambshm-exec-wrapper: cannot create the backing directory" in out,
                      f"{label}: a backing directory it cannot create: clear message, status 125", out)
            # 4. The wrapper's settings are lambshm run's.
            # (The wrapper exports the default LAMBSHM_DIR it created; run leaves
            # the default to the libraries: the same directory.)
            show = 'echo "A|$LD_LIBRARY_PATH|$LD_PRELOAD|$PYTHONPATH|${LAMBSHM_DIR:-/tmp/shm}"'
            compare = 'eval "$(/opt/bin/lambshm run --print-env)"; ' + show
            rc_a, run_env = sandbox_run(base, compare)
            rc_b, wrapper_env = sandbox_run(
                base, f"/opt/bin/lambshm-exec-wrapper /bin/sh -c '{show}'")
            tap.check(rc_a == 0 and rc_b == 0 and run_env.strip() == wrapper_env.strip(),
                      f"{label}: the wrapper sets what `lambshm run` sets",
                      f"run: {run_env}\nwrapper: {wrapper_env}")
        rc, out = sandbox_run(["--opt", layer], "/opt/bin/lambshm-exec-wrapper")
        tap.check(rc == 125 and "no runtime to run" in out, "the wrapper without a runtime: status 125", out)

        # 5. The Dockerfiles.
        for flavour, rootfs, site in (("al2", [], "/usr/local/lib/python3.9/dist-packages"),
                                      ("al2023", ["--host"],
                                       "/usr/local/lib/python3.11/dist-packages"),
                                      ("provided.al2023", ["--host"], None)):
            path = os.path.join(TOP, "packaging", "docker", flavour, "Dockerfile")
            text = open(path).read()
            if site:
                # A pinned base tag (3.12.2025...) must not end up in the
                # site-packages path: PYTHON is the version, BASE_TAG the tag.
                args = {"PYTHON": "3.12", "BASE_TAG": "3.12.2025.11.04.12"}
                froms = [expand(f, args) for f in re.findall(r"^FROM (public\.ecr\.aws\S+)", text, re.M)]
                dests = {expand(d, args) for d in re.findall(r"^COPY --from=lambshm .+ (\S+)$", text, re.M)}
                tap.check(froms == ["public.ecr.aws/lambda/python:3.12.2025.11.04.12"]
                          and "/var/lang/lib/python3.12/site-packages/" in dests,
                          f"docker/{flavour}: a pinned base tag: FROM that tag, the hook in python3.12's "
                          "site-packages", f"{froms} {sorted(dests)}")
            # Sources are /lambshm-*/PATH: the tarball's top directory, any version.
            copies = re.findall(r"^COPY --from=lambshm (.+) (\S+)$", text, re.M)
            sources = [s[len("/lambshm-*/"):] for src, _ in copies for s in src.split()]
            missing = [s for s in sources if s.rstrip("/") + ("/" if s.endswith("/") else "")
                       not in EXPECTED_TREE and s not in EXPECTED_TREE]
            tap.check(sources and not missing,
                      f"docker/{flavour}: every file it copies from the tarball exists ({len(sources)})",
                      f"missing: {missing}")
            # ENV values as the builder expands them, on a base image whose
            # environment is Lambda's.
            base_env = {"LD_LIBRARY_PATH": LAMBDA_LD_LIBRARY_PATH}
            envs = [(k, expand(v, base_env)) for k, v in re.findall(r"^ENV (\w+)=(\S+)$", text, re.M)]
            env_paths = [p for _, v in envs for p in v.split(":") if p.startswith("/opt/")]
            missing = [p for p in env_paths
                       if not os.path.exists(os.path.join(tree, p[len("/opt/"):]))]
            tap.check(not missing, f"docker/{flavour}: every /opt path in its environment exists",
                      f"missing: {missing}")
            # The image: the tarball's bin/ and lib/ at /opt, the hook in
            # site-packages (here, the interpreter's first site directory),
            # and the image's environment.
            if site is None:
                # provided.al2023: a C program (the bootstrap's stand-in),
                # built here (glibc 2.34+), with the image's environment; stock
                # fails.  A Python shipped there adds PYTHONPATH=/opt/python/run.
                client = os.path.join(mnt, "client-2.34")
                gcc = "gcc" if m.group(2) == os.uname().machine else f"{m.group(2)}-linux-gnu-gcc"
                r = subprocess.run([gcc, "-O2", "-o", client, os.path.join(TOP, "tests", "overlay", "client.c"),
                                    "-pthread"], capture_output=True, text=True)
                tap.check(r.returncode == 0, "gcc builds the C client here", r.stderr)
                args = rootfs + ["--opt", tree] + [a for k, v in envs for a in ("--env", f"{k}={v}")]
                rc, out = sandbox_run(args, "/mnt/client-2.34 provided")
                rc0, out0 = sandbox_run(rootfs + ["--opt", tree], "/mnt/client-2.34 provided")
                tap.check(rc == 0 and "client: ok" in out and rc0 != 0,
                          f"docker/{flavour}: a C program runs with the image's environment, fails without",
                          out + out0)
                rc, out = sandbox_run(args + ["--env", "PYTHONPATH=/opt/python/run"],
                                      f"{python} /mnt/invoke.py")
                tap.check(rc == 0 and '"statusCode": 200' in out,
                          f"docker/{flavour}: with PYTHONPATH=/opt/python/run, a Python function too", out)
                # examples/provided/bootstrap, against a stand-in for Lambda's
                # runtime API (one event; the sandbox shares this network).
                # It needs curl: this machine's userland has it, the arm64 one
                # (python3 only) has not.
                if m.group(2) != os.uname().machine or not shutil.which("curl"):
                    tap.skip("examples/provided/bootstrap against a stand-in runtime API",
                             f"no curl in the {m.group(2)} userland")
                    continue
                for env, want in ((args, "response"), (rootfs + ["--opt", tree], "error")):
                    with RuntimeApi() as api:
                        shutil.copy(os.path.join(TOP, "examples", "provided", "bootstrap"), mnt)
                        sandbox_run(env + ["--env", f"AWS_LAMBDA_RUNTIME_API=127.0.0.1:{api.port}"],
                                    "/mnt/bootstrap", timeout=120)
                    path, body = api.posted[0] if api.posted else ("", "")
                    ok = path == f"/2018-06-01/runtime/invocation/{api.request_id}/{want}"
                    if want == "response":
                        ok = ok and json.loads(body).get("works") is True
                    tap.check(ok, f"examples/provided/bootstrap {'with' if want == 'response' else 'without'} "
                              f"the image's LD_PRELOAD: posts its {want}", f"{path} {body[:600]}")
                continue
            hook = os.path.join(work, f"site-{flavour}")
            os.mkdir(hook)
            for f in ("lambshm_mp_hook.py", "lambshm_mp_patch.py", "lambshm-mp-hook.pth", "lambshm_check.py"):
                shutil.copy(os.path.join(tree, "python", f), hook)
            shutil.copytree(os.path.join(tree, "python", "__pycache__"),
                            os.path.join(hook, "__pycache__"))
            subprocess.run(["chmod", "-R", "a+rX", hook], check=True)
            # The base image's own LD_LIBRARY_PATH, unless the Dockerfile sets it.
            args = rootfs + ["--opt", tree, "--bind", f"{hook}:{site}"]
            for k, v in base_env.items():
                args += ["--env", f"{k}={v}"]
            for k, v in envs:
                args += ["--env", f"{k}={v}"]
            rc, out = sandbox_run(args, f"{python} /mnt/invoke.py")
            tap.check(rc == 0 and '"statusCode": 200' in out,
                      f"docker/{flavour}: the image's files and environment run the function", out)
            rc, out = sandbox_run(args, f"{python} -m lambshm_check")
            tap.check(rc == 0 and '"ok": true' in out,
                      f"docker/{flavour}: python3 -m lambshm_check in the image: ok", out)
        # compose.yaml: every service built for one platform (Lambda rejects
        # manifest lists), amd64 unless LAMBSHM_PLATFORM says otherwise.
        compose = open(os.path.join(TOP, "packaging", "docker", "compose.yaml")).read()
        services = re.findall(r"^  (\w+):\n((?:    .*\n)+)", compose, re.M)
        tap.check(services and all(re.search(r"^    platform: \$\{LAMBSHM_PLATFORM:-linux/amd64\}$", body, re.M)
                                   for _, body in services),
                  f"packaging/docker/compose.yaml: every service has one platform ({len(services)})", compose)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
