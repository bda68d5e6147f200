#!/usr/bin/env python3
"""What lambshm adds to a process's start, in milliseconds (medians of many
runs; prints markdown rows for bench/RESULTS.md):

  - the Python hook, two ways, each with the hook and without it,
    interleaved:
      what start-up pays: the `site` module's cumulative time plus that of
        the first module imported from source (a one-line handler, as Lambda
        imports the function's from /var/task), with - without.  This is
        the figure that matters: a process's first compile() builds the
        interpreter's AST types, and whoever compiles first
        pays it, lambshm or the handler, so only this sum is fair;
      `-X importtime` of lambshm's imports: our sitecustomize's cumulative
        time minus that of the one it shadows and runs (the .pth path
        imports nothing: it execs the hook);
    for the sitecustomize path (the exec wrapper, `lambshm run`) and the .pth
    path (images), with /dev/shm working (this machine) and without it (the
    Lambda-like sandbox, the layer read-only at /opt so no bytecode can be
    cached, as on Lambda);
  - the exec wrapper: `lambshm-exec-wrapper /bin/true` minus `/bin/true`,
    wall clock, in the sandbox on glibc 2.31 (overlay) and 2.36 (preload).

Runs at nice -20 when it may (root), which steadies the medians on a busy
machine; with valgrind installed, also counts the instructions the hook
adds (callgrind), which no load can move.
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
env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")  # the handler compiles every time
env.pop("PYTHONPATH", None)
env["PYTHONUSERBASE"] = os.environ["HOOK_USERBASE"] + "-empty"
hooked = dict(env)
if site == "run":
    hooked["PYTHONPATH"] = os.environ["HOOK_RUN_DIR"]
else:
    hooked["PYTHONUSERBASE"] = os.environ["HOOK_USERBASE"]
# Interleaved: with the hook, then without (the baseline of the same moment).
for e in (env, hooked):
    e["PYTHONPATH"] = ":".join(filter(None, [e.get("PYTHONPATH"), os.environ["HOOK_HANDLER_DIR"]]))
for _ in range(runs):
    for tag, e in (("RUN", hooked), ("BASE", env)):
        r = subprocess.run([python, "-X", "importtime", "-c", "import lambshm_bench_handler"], env=e,
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


def start_total(text, tag):
    """Per run: `site`'s cumulative time plus the handler's, in ms."""
    out = []
    chunks = re.split(r"^(RUN|BASE)\n", text, flags=re.M)[1:]
    for t, run in zip(chunks[::2], chunks[1::2]):
        if t != tag:
            continue
        site = re.search(r"import time:\s+\d+ \|\s+(\d+) \| site$", run, re.M)
        handler = re.search(r"import time:\s+\d+ \|\s+(\d+) \| lambshm_bench_handler$", run, re.M)
        if site and handler:
            out.append((int(site[1]) + int(handler[1])) / 1000)
    return out


def costs(text, site):
    """Per run: lambshm's own cumulative import time at start-up, in ms."""
    out = []
    chunks = re.split(r"^(RUN|BASE)\n", text, flags=re.M)[1:]
    for tag, run in zip(chunks[::2], chunks[1::2]):
        if tag != "RUN":
            continue
        rows = [(int(m[1]), int(m[2]), len(m[3]), m[4]) for m in LINE.finditer(run)]
        if site == "pth":  # exec'd by the .pth line: no import of ours to time
            out.append(sum(cum for _, cum, _, name in rows
                           if name.startswith("lambshm") and name != "lambshm_bench_handler") / 1000)
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


def instructions(python, env):
    """Instructions (callgrind's Ir) one start through the handler's import
    executes: a figure the machine's load cannot move."""
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python,
                        "-c", "import lambshm_bench_handler"], env=env, capture_output=True,
                       text=True)
    m = re.search(r"Collected : (\d+)", r.stderr)
    return int(m[1]) if m else None


def main():
    try:
        os.nice(-20)  # inherited by every run; root only
    except OSError:
        pass
    build = os.path.abspath(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    work = tempfile.mkdtemp(prefix="lambshm-startup-")
    try:
        layer = os.path.join(work, "opt")
        subprocess.run(["ninja", "-C", build], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(TOP, "packaging", "layer"), build, layer], check=True)
        if os.environ.get("HOOK_FROM"):  # another version's Python files, to compare
            for d in ("__pycache__", "run/__pycache__"):  # ours would shadow them
                shutil.rmtree(os.path.join(layer, "python", d), ignore_errors=True)
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
            if os.path.isdir(os.path.join(layer, "python", "__pycache__")):  # as the images do
                shutil.copytree(os.path.join(layer, "python", "__pycache__"),
                                os.path.join(site, "__pycache__"))
        # The function's handler: a module imported from source, as Lambda
        # imports it from /var/task.
        os.makedirs(os.path.join(work, "task"))
        with open(os.path.join(work, "task", "lambshm_bench_handler.py"), "w") as f:
            f.write("def handler(event, context):\n    return event\n")
        for name, text in (("importtime.py", IMPORTTIME), ("wrapper.py", WRAPPER)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)
        rows = []
        for site, label in (("run", "sitecustomize (wrapper, lambshm run)"),
                            ("pth", ".pth in site-packages (images)")):
            # /dev/shm works: this machine, the tree where it was laid out.
            env = dict(os.environ, HOOK_RUN_DIR=os.path.join(layer, "python", "run"),
                       HOOK_USERBASE=os.path.join(work, "userbase-host"),
                       HOOK_HANDLER_DIR=os.path.join(work, "task"))
            r = subprocess.run([python, os.path.join(work, "importtime.py"), python, str(runs),
                                site], env=env, capture_output=True, text=True, check=True)
            here = costs(r.stdout, site)
            here_start = (statistics.median(start_total(r.stdout, "RUN"))
                          - statistics.median(start_total(r.stdout, "BASE")))
            # No /dev/shm, read-only layer at /opt: the sandbox on this machine's userland.
            r = subprocess.run([SANDBOX, "--host", "--opt", layer, "--mnt", work,
                                "--env", "HOOK_RUN_DIR=/opt/python/run",
                                "--env", "HOOK_USERBASE=/mnt/userbase-sandbox",
                                "--env", "HOOK_HANDLER_DIR=/mnt/task", "--",
                                python, "/mnt/importtime.py", python, str(runs), site],
                               capture_output=True, text=True, check=True)
            there = costs(r.stdout, site)
            there_start = (statistics.median(start_total(r.stdout, "RUN"))
                           - statistics.median(start_total(r.stdout, "BASE")))
            rows.append(f"| Python hook, {label}: what start-up pays (`site` + handler "
                        f"import, with - without) | {here_start:.2f} ms | {there_start:.2f} ms "
                        f"| ≤ 1 ms |")
            if shutil.which("valgrind"):
                task = os.path.join(work, "task")
                base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
                base.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=task,
                            PYTHONUSERBASE=os.path.join(work, "userbase-host-empty"))
                hooked = dict(base)
                if site == "run":
                    hooked["PYTHONPATH"] = os.path.join(layer, "python", "run") + ":" + task
                else:
                    hooked["PYTHONUSERBASE"] = os.path.join(work, "userbase-host")
                with_, without = instructions(python, hooked), instructions(python, base)
                if with_ and without:
                    rows.append(f"| same, instructions executed (callgrind Ir), with - without | "
                                f"{(with_ - without) / 1e6:.2f} M of {without / 1e6:.1f} M | | |")
            rows.append(f"| same, `-X importtime` of lambshm's imports | "
                        f"{statistics.median(here):.2f} ms | {statistics.median(there):.2f} ms | |")
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
