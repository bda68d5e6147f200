#!/usr/bin/env python3
"""packaging/package twice from one build gives the same bytes (TAP): the
tarball, the layer zip and SHA256SUMS; and what makes them so holds: no time
in the gzip header, every entry owned by root and dated $SOURCE_DATE_EPOCH,
entries sorted, the zip's entries dated alike.

Usage: reproducible_test.py BUILD
"""
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCH = 1700000000  # any fixed date


def main():
    build = sys.argv[1]
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="lambshm-repro-") as work:
        outs = []
        for n in (1, 2):
            out = os.path.join(work, f"out{n}")
            r = subprocess.run([os.path.join(TOP, "packaging", "package"), build, out],
                               capture_output=True, text=True,
                               env=dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH)))
            tap.check(r.returncode == 0, f"packaging/package, run {n}", r.stdout + r.stderr)
            if r.returncode != 0:
                return tap.finish()
            outs.append(out)
        names = sorted(os.listdir(outs[0]))
        tap.check(sorted(os.listdir(outs[1])) == names and "SHA256SUMS" in names
                  and any(n.endswith(".tar.gz") for n in names) and any(n.endswith(".zip") for n in names),
                  "both runs write a tarball, a layer zip and SHA256SUMS", str(names))
        for n in names:
            with open(os.path.join(outs[0], n), "rb") as a, open(os.path.join(outs[1], n), "rb") as b:
                tap.check(a.read() == b.read(), f"{n}: byte-identical across two runs")
        r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=outs[0], capture_output=True, text=True)
        tap.check(r.returncode == 0, "sha256sum -c SHA256SUMS", r.stdout + r.stderr)
        tarball = next(os.path.join(outs[0], n) for n in names if n.endswith(".tar.gz"))
        with open(tarball, "rb") as f:
            header = f.read(10)
        tap.check(header[3] & 0x08 == 0 and header[4:8] == b"\0\0\0\0",
                  "the gzip header has no name and no time (gzip -n)", header.hex())
        with tarfile.open(tarball) as t:
            members = t.getmembers()
        bad = [m.name for m in members if (m.uid, m.gid, m.uname, m.gname, m.mtime) != (0, 0, "root", "root", EPOCH)]
        tap.check(not bad, "every tar entry is root's and dated SOURCE_DATE_EPOCH", str(bad[:5]))
        order = [m.name for m in members]
        tap.check(order == sorted(order), "tar entries sorted")
        layer = next(os.path.join(outs[0], n) for n in names if n.endswith(".zip"))
        with zipfile.ZipFile(layer) as z:
            infos = z.infolist()
        stamp = time.gmtime(EPOCH)[:6]
        tap.check(all(i.date_time == stamp for i in infos) and
                  [i.filename for i in infos] == sorted(i.filename for i in infos),
                  "zip entries sorted and dated SOURCE_DATE_EPOCH")
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
