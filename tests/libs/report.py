#!/usr/bin/env python3
"""Turns libs_test.py --timing REPORT.json files into the Markdown table of
library x userland x stock/lambshm: the first error line of each stock
failure, and the wall time of each lambshm run beside the same workload,
stock, with a real /dev/shm.

  report.py REPORT.json...
"""
import json
import sys


def main():
    print("| userland | arch | python | workload | stock (no /dev/shm): first error | lambshm | "
          "stock with /dev/shm |")
    print("|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        for r in json.load(open(path)):
            stock = r["stock_error"] if r["stock_failed"] else "**did not fail**"
            ours = f"{r['lambshm_s']:.1f} s" if r["lambshm_ok"] else "**failed**"
            dev = r.get("devshm_s")
            if r["case"] == "mp:hook":
                dev = "n/a (the hook is inert where /dev/shm works)"
            elif dev is None:
                dev = ""
            else:
                dev = f"{dev:.1f} s" if r.get("devshm_ok") else f"failed: {r.get('devshm_error', '')}"
            print(f"| {r['userland']} | {r['arch']} | {r['python']} | {r['case']} | "
                  f"`{stock.replace('|', '/')}` | {ours} | {dev} |")


if __name__ == "__main__":
    sys.exit(main())
