"""The documented release tree (docs/lambda.md, "What a release contains"): what the
tarball holds, and what `meson install` puts under PREFIX/lib/lambshm (all
but the three documents, which packaging/package adds)."""
RELEASE_TREE = [
    "LICENSE", "MANIFEST", "README.md", "bin/", "bin/lambshm", "bin/lambshm-exec-wrapper",
    "lib/", "lib/liblambshm-preload.so", "lib/overlay/", "lib/overlay/libpthread.so.0",
    "lib/overlay/librt.so.1", "python/", "python/lambshm-mp-hook.pth",
    "python/lambshm_check.py", "python/lambshm_mp_hook.py", "python/lambshm_mp_patch.py",
    "python/run/",
    "python/run/sitecustomize.py",
]
