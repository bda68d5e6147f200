"""The documented release tree (docs/lambda.md, "What a release contains"): what the
tarball holds, and what `meson install` puts under PREFIX/lib/lambshm (all
but the documents, which packaging/package adds).  Bytecode is checked by
rule, not listed: which Pythons it is for depends on the packaging machine."""
import os
import re
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCUMENTS = ["LICENSE", "MANIFEST", "README.md", "docs/"] + sorted(
    "docs/" + os.path.relpath(os.path.join(d, n), os.path.join(TOP, "docs")) + ("/" if n in ds else "")
    for d, ds, fs in os.walk(os.path.join(TOP, "docs")) for n in ds + fs)
RELEASE_TREE = sorted(DOCUMENTS + [
    "bin/", "bin/lambshm", "bin/lambshm-exec-wrapper",
    "lib/", "lib/lambshm-keeper", "lib/liblambshm-preload.so", "lib/overlay/", "lib/overlay/libpthread.so.0",
    "lib/overlay/librt.so.1", "python/", "python/__pycache__/", "python/lambshm-mp-hook.pth",
    "python/lambshm_check.py", "python/lambshm_mp_hook.py", "python/lambshm_mp_patch.py",
    "python/run/", "python/run/__pycache__/",
    "python/run/lambshm_check.py", "python/run/sitecustomize.py",
])
PYC = re.compile(r"^(python/(?:run/)?)__pycache__/([^/.]+)\.([^/.]+)\.pyc$")


def host_cache_tag():
    """The cache tag of this machine's python3 (whose bytecode every tree holds)."""
    return subprocess.run(["python3", "-c", "import sys; print(sys.implementation.cache_tag)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def split_bytecode(paths):
    """(the paths that are not bytecode, {cache tag: [sources it was compiled from]})."""
    rest, tags = [], {}
    for p in paths:
        m = PYC.match(p)
        if m:
            tags.setdefault(m.group(3), []).append(m.group(1) + m.group(2) + ".py")
        else:
            rest.append(p)
    return rest, tags


def bytecode_problems(paths, need_tag):
    """What is wrong with the bytecode among `paths` (a tree's files, relative):
    each tag must cover every shipped .py exactly, and `need_tag` be among them."""
    sources = sorted(p for p in paths if p.startswith("python/") and p.endswith(".py"))
    _, tags = split_bytecode(paths)
    problems = [f"{tag}: bytecode for {sorted(got)}, sources {sources}"
                for tag, got in tags.items() if sorted(got) != sources]
    if need_tag not in tags:
        problems.append(f"no bytecode for {need_tag} (found {sorted(tags)})")
    return problems
