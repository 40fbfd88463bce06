#!/usr/bin/env python3
"""Differential test: CPython 3.11 and rectify must agree on every case.

Runs gen_cases.py, evaluates each lambda with CPython (eval of the source, then
type(result).__name__ and str(result), or the exception class name), runs the
same cases through the rectify driver (lambda_batch, JSON lines), and compares.
A case agrees when both succeed with the same type name and the same str(), or
both raise the same exception class. Cases outside the language's documented
limits are left out before rectify sees them (counted and printed):
  - results CPython can represent but rectify refuses by design (complex
    numbers, ints of more than 8600 digits);
Exit status 1 on any disagreement (the first ones are printed) or when fewer
than 2000 cases were compared.

usage: differential.py --driver PATH [--keep FILE] [--show N]
"""
import argparse
import builtins
import datetime as dtmod
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def py_eval(case):
    src = case["src"]
    env = {"__builtins__": builtins, "re": re,
           "datetime": dtmod if "datetime.datetime" in src else dtmod.datetime}
    try:
        f = eval(src, env)
    except SyntaxError as e:
        return {"ok": False, "error": "SyntaxError", "message": str(e)}
    args = [case["x"]]
    if f.__code__.co_argcount == 2:
        args.append(case.get("row", {}))
    try:
        r = f(*args)
    except Exception as e:  # noqa: BLE001 - the class name is the result
        return {"ok": False, "error": type(e).__name__, "message": str(e)}
    try:
        text = None if r is None else str(r)
    except Exception as e:  # noqa: BLE001 - str() itself raised (int digit limit)
        return {"ok": False, "error": type(e).__name__, "message": str(e)}
    return {"ok": True, "type": type(r).__name__, "value": text, "raw": r}


def out_of_limits(res):
    if not res["ok"]:
        return None
    r = res["raw"]
    if isinstance(r, complex):
        return "complex result"
    if isinstance(r, int) and not isinstance(r, bool) and r.bit_length() > 28000:
        return "int beyond 8600 digits"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--keep", help="write the compared corpus (JSON lines) here")
    ap.add_argument("--show", type=int, default=20)
    a = ap.parse_args()

    gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_cases.py")], check=True,
                         capture_output=True, text=True)
    cases = [json.loads(l) for l in gen.stdout.split("\n") if l.strip()]
    kept, expected, skipped = [], [], {}
    for c in cases:
        res = py_eval(c)
        why = out_of_limits(res)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        res.pop("raw", None)
        kept.append(c)
        expected.append(res)
    payload = "".join(json.dumps({k: v for k, v in c.items() if k != "family"}) + "\n" for c in kept)
    if a.keep:
        with open(a.keep, "w") as fh:
            fh.write(payload)
    run = subprocess.run([a.driver], input=payload, capture_output=True, text=True)
    if run.returncode != 0:
        print("driver failed (exit %d): %s" % (run.returncode, run.stderr[-2000:]))
        return 1
    got = [json.loads(l) for l in run.stdout.split("\n") if l.strip()]
    if len(got) != len(kept):
        print("driver returned %d results for %d cases" % (len(got), len(kept)))
        return 1
    bad = []
    families = {}
    for c, e, g in zip(kept, expected, got):
        fam = families.setdefault(c["family"], [0, 0])
        fam[0] += 1
        if e["ok"] and g["ok"]:
            same = e["type"] == g["type"] and e["value"] == g["value"]
        elif not e["ok"] and not g["ok"]:
            same = e["error"] == g["error"]
        else:
            same = False
        if same:
            fam[1] += 1
        else:
            bad.append((c, e, g))
    for why, n in sorted(skipped.items()):
        print("left out (documented limit): %d case(s) with %s" % (n, why))
    for fam, (n, ok) in sorted(families.items()):
        print("  %-14s %5d cases, %5d agree" % (fam, n, ok))
    for c, e, g in bad[:a.show]:
        print("DISAGREE %s x=%r%s\n    cpython: %s\n    rectify: %s" % (
            c["src"], c["x"], " row=%s" % json.dumps(c["row"]) if "row" in c else "",
            json.dumps(e, ensure_ascii=False), json.dumps(g, ensure_ascii=False)))
    n = len(kept)
    print("differential: %d cases, %d agree" % (n, n - len(bad)))
    if bad or n < 2000:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
