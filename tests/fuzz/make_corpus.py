#!/usr/bin/env python3
"""Regenerate the fuzzer's seed corpus (tests/fuzz/corpus/) from the
differential generator and the hostile cases: one file per case,
"SRC\\nX" (X omitted for None). Deterministic: every 9th differential case
(about 500) and every hostile case that fits the fuzzer's 4 KiB input size."""
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
out = os.path.join(HERE, "corpus")
os.makedirs(out, exist_ok=True)
gen = subprocess.run([sys.executable, os.path.join(ROOT, "tests/lambda/gen_cases.py")],
                     check=True, capture_output=True, text=True).stdout
cases = [json.loads(l) for l in gen.split("\n") if l.strip()][::9]
with open(os.path.join(ROOT, "tests/data/lambda/hostile/hostile.jsonl")) as fh:
    cases += [json.loads(l) for l in fh if l.strip()]
n = 0
for c in cases:
    data = c["src"].encode() + (b"\n" + c["x"].encode() if c.get("x") is not None else b"")
    if len(data) > 4096:
        continue
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(out, name), "wb") as fh:
        fh.write(data)
    n += 1
print("%d seed files in %s" % (n, out))
