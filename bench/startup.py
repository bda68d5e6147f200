#!/usr/bin/env python3
"""What lambshm adds to a process's start, in milliseconds (medians of many
runs; prints markdown rows for bench/RESULTS.md):

  - the Python hook, as `python3 -X importtime` reports it: the self and
    cumulative time of lambshm's imports at interpreter start, which every
    spawn/forkserver worker pays again:
      sitecustomize path (the exec wrapper, `lambshm run`): lambshm's
        sitecustomize's cumulative time minus that of the sitecustomize it
        shadows and runs (the system's, which runs anyway);
      .pth path (images): lambshm_mp_hook's cumulative time;
    with /dev/shm working (this machine) and without it (the Lambda-like
    sandbox, the layer read-only at /opt so no bytecode can be cached, as on
    Lambda);
  - the exec wrapper: `lambshm-exec-wrapper /bin/true` minus `/bin/true`,
    wall clock, in the sandbox on glibc 2.31 (overlay) and 2.36 (preload).

Usage: bench/startup.py BUILD [RUNS]   (root: the sandbox needs it)
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX = os.path.join(TOP, "tests", "harness", "lambda-sandbox")

# Runs inside the sandbox or here: N interpreter starts, the importtime lines.
IMPORTTIME = r"""
import os, subprocess, sys
python, runs, site = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = dict(os.environ)
env.pop("PYTHONPATH", None)
env["PYTHONUSERBASE"] = os.environ["HOOK_USERBASE"] + "-empty"
hooked = dict(env)
if site == "run":
    hooked["PYTHONPATH"] = os.environ["HOOK_RUN_DIR"]
else:
    hooked["PYTHONUSERBASE"] = os.environ["HOOK_USERBASE"]
# Interleaved: with the hook, then without (the baseline of the same moment).
for _ in range(runs):
    for tag, e in (("RUN", hooked), ("BASE", env)):
        r = subprocess.run([python, "-X", "importtime", "-c", "pass"], env=e,
                           capture_output=True, text=True)
        print(tag)
        print(r.stderr)
"""
WRAPPER = r"""
import subprocess, sys, time
wrapper, runs = sys.argv[1], int(sys.argv[2])
for _ in range(runs):
    for argv in (["/bin/true"], [wrapper, "/bin/true"]):
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        print(len(argv), time.perf_counter() - t)
"""
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def site_total(text, tag):
    """Per run: the site module's cumulative time (all start-up imports), in ms."""
    out = []
    chunks = re.split(r"^(RUN|BASE)\n", text, flags=re.M)[1:]
    for t, run in zip(chunks[::2], chunks[1::2]):
        if t != tag:
            continue
        m = re.search(r"import time:\s+\d+ \|\s+(\d+) \| site$", run, re.M)
        if m:
            out.append(int(m[1]) / 1000)
    return out


def costs(text, site):
    """Per run: lambshm's own cumulative import time at start-up, in ms."""
    out = []
    chunks = re.split(r"^(RUN|BASE)\n", text, flags=re.M)[1:]
    for tag, run in zip(chunks[::2], chunks[1::2]):
        if tag != "RUN":
            continue
        rows = [(int(m[1]), int(m[2]), len(m[3]), m[4]) for m in LINE.finditer(run)]
        if site == "pth":
            hook = [cum for _, cum, _, name in rows if name == "lambshm_mp_hook"]
            if hook:
                out.append(hook[0] / 1000)
            continue
        # The outermost sitecustomize is lambshm's; one nested under it is the
        # shadowed one, which runs whether or not lambshm is there.
        outer = [(cum, depth) for _, cum, depth, name in rows if name == "sitecustomize"]
        if not outer:
            continue
        top_cum, top_depth = min(outer, key=lambda x: x[1])
        shadowed = sum(cum for cum, depth in outer if depth == top_depth + 2)
        out.append((top_cum - shadowed) / 1000)
    return out


def main():
    build = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    work = tempfile.mkdtemp(prefix="lambshm-startup-")
    try:
        layer = os.path.join(work, "opt")
        subprocess.run([os.path.join(TOP, "packaging", "layer"), build, layer], check=True)
        if os.environ.get("HOOK_FROM"):  # another version's Python files, to compare
            for f in ("lambshm_mp_hook.py", "lambshm_mp_patch.py", "run/sitecustomize.py"):
                old = subprocess.run(["git", "-C", TOP, "show",
                                      f"{os.environ['HOOK_FROM']}:python/{f}"],
                                     capture_output=True, text=True)
                if old.returncode == 0:  # older versions have no lambshm_mp_patch.py
                    with open(os.path.join(layer, "python", f), "w") as out:
                        out.write(old.stdout)
        # A user site directory holding the .pth and the hook, as an image's
        # site-packages does.
        python = "/usr/bin/python3"  # this machine's, in both places
        version = subprocess.run([python, "-c", "import sys; print('python%d.%d' % "
                                  "sys.version_info[:2])"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        for base, pyver in (("userbase-host", version), ("userbase-sandbox", version)):
            site = os.path.join(work, base, "lib", pyver, "site-packages")
            os.makedirs(site)
            os.makedirs(os.path.join(work, base + "-empty"))
            for f in ("lambshm_mp_hook.py", "lambshm_mp_patch.py", "lambshm-mp-hook.pth"):
                shutil.copy(os.path.join(layer, "python", f), site)
        for name, text in (("importtime.py", IMPORTTIME), ("wrapper.py", WRAPPER)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)
        rows = []
        for site, label in (("run", "sitecustomize (wrapper, lambshm run)"),
                            ("pth", ".pth in site-packages (images)")):
            # /dev/shm works: this machine, the tree where it was laid out.
            env = dict(os.environ, HOOK_RUN_DIR=os.path.join(layer, "python", "run"),
                       HOOK_USERBASE=os.path.join(work, "userbase-host"))
            r = subprocess.run([python, os.path.join(work, "importtime.py"), python, str(runs),
                                site], env=env, capture_output=True, text=True, check=True)
            here = costs(r.stdout, site)
            here_site = (statistics.median(site_total(r.stdout, "RUN"))
                         - statistics.median(site_total(r.stdout, "BASE")))
            # No /dev/shm, read-only layer at /opt: the sandbox on this machine's userland.
            r = subprocess.run([SANDBOX, "--host", "--opt", layer, "--mnt", work,
                                "--env", "HOOK_RUN_DIR=/opt/python/run",
                                "--env", "HOOK_USERBASE=/mnt/userbase-sandbox", "--",
                                python, "/mnt/importtime.py", python, str(runs), site],
                               capture_output=True, text=True, check=True)
            there = costs(r.stdout, site)
            there_site = (statistics.median(site_total(r.stdout, "RUN"))
                          - statistics.median(site_total(r.stdout, "BASE")))
            rows.append(f"| Python hook at interpreter start, {label}: -X importtime of "
                        f"lambshm's modules | {statistics.median(here):.2f} ms | "
                        f"{statistics.median(there):.2f} ms | ≤ 1 ms |")
            rows.append(f"| same, what start-up pays: `site` cumulative with - without | "
                        f"{here_site:.2f} ms | {there_site:.2f} ms | |")
        for label, rootfs in (("glibc 2.31 (overlay)", []), ("glibc 2.36 (preload)", ["--host"])):
            r = subprocess.run([SANDBOX] + rootfs + ["--opt", layer, "--mnt", work, "--",
                                "python3", "/mnt/wrapper.py", "/opt/bin/lambshm-exec-wrapper",
                                str(runs)], capture_output=True, text=True, check=True)
            times = {1: [], 2: []}
            for line in r.stdout.splitlines():
                n, t = line.split()
                times[int(n)].append(float(t) * 1000)
            bare, wrapped = statistics.median(times[1]), statistics.median(times[2])
            rows.append(f"| exec wrapper at runtime start, {label}: with - without | | "
                        f"{wrapped - bare:.1f} ms ({wrapped:.1f} - {bare:.1f}) | |")
        print(f"Medians of {runs} runs; load average {os.getloadavg()[0]:.1f} after.")
        print()
        print("| what | /dev/shm works (here) | no /dev/shm, read-only /opt (sandbox) | target |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
