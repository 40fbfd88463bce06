#!/usr/bin/env python3
"""Rows per second of typical fixes: rectify (bench_lambda) vs CPython.

For each lambda, 1M deterministic values are written to a file; rectify's
bench_lambda and a CPython loop `for v in values: f(v)` (the same lambda,
eval'ed once) each run RUNS times over the same values. Prints the medians
and the ratio. usage: bench.py --driver PATH [--n 1000000] [--runs 5]
"""
import argparse
import datetime
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

R = random.Random(7)


def strip_vals(n):
    words = ["Hello", "WORLD", "Foo", "bar", "MiXeD", "Straße", "x"]
    return ["%s%s %s%s" % (" " * R.randint(0, 3), R.choice(words), R.choice(words), " " * R.randint(0, 3))
            for _ in range(n)]


def date_vals(n):
    return ["%02d/%02d/%04d" % (R.randint(1, 12), R.randint(1, 28), R.randint(1970, 2030)) for _ in range(n)]


def money_vals(n):
    return ["$%s.%02d" % (format(R.randint(0, 10**7), ","), R.randint(0, 99)) for _ in range(n)]


def oz_vals(n):
    return ["%.1f oz." % (R.randint(0, 20000) / 10) for _ in range(n)]


CASES = [
    ("strip-lower", "lambda x: x.strip().lower()", strip_vals),
    ("date-reformat", "lambda x: datetime.strptime(x, '%m/%d/%Y').strftime('%Y-%m-%d')", date_vals),
    ("regex-sub", "lambda x: re.sub(r'[^0-9.]', '', x)", money_vals),
    ("float-parse", "lambda x: float(x.split()[0])", oz_vals),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, gen in CASES:
            vals = gen(a.n)
            path = os.path.join(tmp, name)
            with open(path, "w") as fh:
                fh.write("\n".join(vals) + "\n")
            out = subprocess.run([a.driver, src, path, str(a.runs)], check=True,
                                 capture_output=True, text=True).stdout
            rect = [float(l.split("rows_per_sec=")[1].split()[0]) for l in out.splitlines()]
            errs = [int(l.split("errors=")[1]) for l in out.splitlines()]
            f = eval(src, {"re": re, "datetime": datetime.datetime})
            py = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                for v in vals:
                    f(v)
                py.append(a.n / (time.perf_counter() - t0))
            rm, pm = statistics.median(rect), statistics.median(py)
            rows.append((name, src, rm, pm, rm / pm, max(errs)))
    print("| fix | lambda | rectify rows/s | CPython rows/s | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, src, rm, pm, ratio, e in rows:
        print("| %s | `%s` | %s | %s | %.1fx |%s" % (name, src, format(int(rm), ","), format(int(pm), ","),
                                                  ratio, " (%d errors!)" % e if e else ""))
    print("(medians of %d runs over %s values each; python %s)" % (a.runs, format(a.n, ","),
                                                                  sys.version.split()[0]))
    return 0 if all(r[4] >= 5 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
