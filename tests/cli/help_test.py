#!/usr/bin/env python3
"""docs/cli.md quotes every `lambshm ... --help` exactly as the program
prints it: a help text changed in cli/ without the page fails here.
Output: TAP.

Usage: help_test.py LAMBSHM CLI_MD
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import Tap  # noqa: E402

LAMBSHM, CLI_MD = sys.argv[1:3]
t = Tap()
page = open(CLI_MD, encoding="utf-8").read()
for args in (["help"], ["run", "--help"], ["doctor", "--help"], ["ls", "--help"],
             ["rm", "--help"], ["gc", "--help"]):
    r = subprocess.run([LAMBSHM] + args, capture_output=True, text=True)
    what = "lambshm " + " ".join(args)
    if t.check(r.returncode == 0 and r.stdout, f"{what}: status 0 and a text",
               f"status {r.returncode}\n{r.stderr}"):
        t.check("```text\n" + r.stdout + "```\n" in page, f"{what}: quoted verbatim in docs/cli.md",
                r.stdout)
sys.exit(t.finish())
