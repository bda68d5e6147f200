# Reads `lambshm ls --json` on stdin (JSON validity is the first check) and
# prints what the test compares: kind name size mode value, one per line.
import json
import sys

doc = json.load(sys.stdin)
for o in doc["objects"]:
    print(o["kind"], o["name"], o["size"], o["mode"], o["value"], o["uid"])
