#!/usr/bin/env python3
"""Differential corpus for lib/lambda/pyfmt.c: CPython computes every answer.

Writes one JSON object per line: {"f": function, inputs..., "out": text} or
{"f": ..., "exc": "ValueError", "msg": "..."}. The C driver (pyrt_diff.c)
feeds the same inputs to rectify and compares. Deterministic (fixed seed).

Excluded on purpose (rectify raises a clean error instead, see report):
  * widths/precisions above RF_PYFMT_MAX_WIDTH (LimitError, never allocated);
  * non-ASCII decimal digits as widths ('{:\u0665}'): rectify reads ASCII
    digits only;
  * %-format '*' widths and '%(name)' keys (rejected by rf_py_pct_parse).
"""
import json
import math
import random
import struct
import sys

if sys.version_info[:2] != (3, 11):
    print("pyfmt differential: needs CPython 3.11, found %s; skipped" % sys.version.split()[0])
    sys.exit(77)

rng = random.Random(20240611)
cases = []


def run(entry, fn):
    try:
        out = fn()
        if "\0" in out:
            return  # the JSON reader of the driver stops at NUL; chr(0) is covered by unit tests
        entry["out"] = out
    except Exception as e:  # noqa: BLE001 - the class name is the expectation
        entry["exc"] = type(e).__name__
        entry["msg"] = str(e)
    cases.append(entry)


def fkey(x):
    return "-nan" if (math.isnan(x) and math.copysign(1, x) < 0) else repr(x)


def rand_double():
    while True:
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if not math.isnan(x):
            return x


# ---- floats worth testing -------------------------------------------------
floats = [0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1 / 3, 2 / 3, 1e16, 1e15, 9999999999999998.0,
          1e17, 1.5e-5, 1e-4, 1e-5, 0.0001, 0.00012345, 123456789.0, 1e22, 1e23, 1e-7,
          5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, math.pi, math.e, 100.0,
          2.5, 3.5, 0.5, 1.5, -2.5, 0.125, 0.375, 1e300, -1e-300, 123.456, 9.995, 0.05,
          2.0 ** 52, 2.0 ** 53 + 2, 2.0 ** 63, 2.0 ** -1022, 2.0 ** 100, 2.0 ** -30, 4.35, 0.045,
          math.inf, -math.inf, math.nan, 1234.5678, -0.0001, 999.9999, 99.5, 0.95, 1e-10,
          123e-20, 7.0, 10.0, 1e5, 12345678901234567890.0]
for _ in range(120):
    floats.append(rand_double())
for _ in range(40):
    floats.append(rng.choice([1, -1]) * rng.randint(0, 10 ** rng.randint(1, 12)) / 10 ** rng.randint(0, 8))
for k in range(-1074, 1024, 37):
    floats.append(2.0 ** k)

for x in floats:
    run({"f": "repr", "v": fkey(x)}, lambda x=x: repr(x))
run({"f": "repr", "v": "-nan"}, lambda: repr(-math.nan))

# ---- format specs ---------------------------------------------------------
fills = ["", "", "", "*<", "0>", "x^", "=", "<", ">", "^", "é<", "€=", " >"]
signs = ["", "", "+", "-", " "]


def rand_spec(types):
    s = rng.choice(fills)
    s += rng.choice(signs)
    if rng.random() < 0.12:
        s += "z"
    if rng.random() < 0.2:
        s += "#"
    if rng.random() < 0.2:
        s += "0"
    if rng.random() < 0.5:
        s += str(rng.choice([0, 1, 3, 5, 8, 12, 20, 30]))
    r = rng.random()
    if r < 0.15:
        s += ","
    elif r < 0.25:
        s += "_"
    if rng.random() < 0.45:
        s += "." + str(rng.choice([0, 1, 2, 3, 6, 10, 17, 25, 60]))
    s += rng.choice(types)
    return s


float_types = ["", "", "e", "E", "f", "F", "g", "G", "n", "%"]
fixed_float_specs = ["", ".3", ".0", "#.3", ".1", ".17", ".16", "g", "#g", ".0g", "#.0g", ".0e",
                     "#.0e", ".0f", "#.0f", ",", "_", ",.2f", "_.3f", "015,.2f", "010", "+",
                     " ", "z", "z.1f", "z.0f", "z%", "z.2e", "%", ".2%", "e", "E", "F", "G",
                     "n", ".3n", "08.3n", "^12", "=+12.3f", "*^20,.4f", "0=12", "020,", "z=12.1f",
                     ".1000f", ".300e", ".200g", "#.30g", ".25", ".60f", ",d", "d", "s", "x",
                     "c", ",n", "5x5", "._", ".", ",_", "_,", ",,", "=", "é", "\u0665", "+z#010,.3f"]
fl_cases = []
for x in floats:
    for sp in rng.sample(fixed_float_specs, 6):
        fl_cases.append((x, sp))
    for _ in range(3):
        fl_cases.append((x, rand_spec(float_types)))
for x, sp in fl_cases:
    if "\u0665" in sp:
        continue  # non-ASCII width digits: not supported (see header)
    run({"f": "float", "v": fkey(x), "spec": sp}, lambda x=x, sp=sp: format(x, sp))
for sp in ["", "+", "010", "z", "e"]:
    run({"f": "float", "v": "-nan", "spec": sp}, lambda sp=sp: format(-math.nan, sp))

ints = [0, 1, -1, 7, -7, 42, 255, -255, 1000, 1234, -12345, 10 ** 6, 2 ** 31, -2 ** 63, 2 ** 64,
        10 ** 20, 10 ** 30 + 7, -(10 ** 40), 0x10ffff, 0x110000, 65, 233, 8364, 2 ** 53 + 1,
        2 ** 1023, 2 ** 1024, 2 ** 1024 - 2 ** 970, 2 ** 1024 - 2 ** 971, 10 ** 400]
for _ in range(60):
    ints.append(rng.choice([1, -1]) * rng.getrandbits(rng.randint(1, 130)))
int_types = ["", "", "d", "b", "o", "x", "X", "n", "c", "e", "f", "g", "%", "E", "G", "F", "s"]
fixed_int_specs = ["", "d", ",", "_", "_b", "_x", "#_o", "#x", "#X", "#b", "#o", "+", " ", "-",
                   "010", "010,", "09,", "08,", "#010_x", "+#012_b", "c", "05c", "^5c", "+c",
                   "#c", ",c", "z", "zd", ".2", "z.2", ".3f", "e", ".2e", "%", "g", "n", "08n",
                   ",n", "_n", "*^15,", "=+10", "<10", "x,", "s", "\u00e9", "5x5", "0=10x"]
for v in ints:
    for sp in rng.sample(fixed_int_specs, 6):
        run({"f": "int", "v": str(v), "spec": sp}, lambda v=v, sp=sp: format(v, sp))
    for _ in range(3):
        sp = rand_spec(int_types)
        run({"f": "int", "v": str(v), "spec": sp}, lambda v=v, sp=sp: format(v, sp))

strs = ["", "a", "ab", "hello", "é", "日本語", "a\u0301", "x" * 30, "😀x", "  pad  "]
str_specs = ["", "s", "5", "<5", ">5", "^5", "^6", "*^7", "é>4", "05", "0>5", ".2", "10.3", ".0",
             "+", "-", " ", "z", "#", "=5", "d", "x", ",", "_", ",s", "5x", ".", "_s", "😀^9",
             "=^9", "0^9.1s", "z5", "#=5"]
for s in strs:
    for sp in str_specs:
        run({"f": "str", "v": s, "spec": sp}, lambda s=s, sp=sp: format(s, sp))

# ---- %-formatting ---------------------------------------------------------
def rand_pct(convs):
    s = "%"
    for fl in "-+ #0":
        if rng.random() < 0.2:
            s += fl
    if rng.random() < 0.5:
        s += str(rng.choice([1, 3, 5, 8, 12]))
    if rng.random() < 0.4:
        s += "." + rng.choice(["", "0", "1", "3", "6", "12"])
    if rng.random() < 0.05:
        s += rng.choice("hlL")
    return s + rng.choice(convs)


pct_fixed = ["%d", "%i", "%u", "%o", "%x", "%X", "%#o", "%#x", "%#X", "%5d", "%-5d", "%05d",
             "%+d", "% d", "%+05d", "%-05d", "%.5d", "%#5.3x", "%#05x", "%#-8o", "%+.3x", "%.0d",
             "%#.0o", "%ld", "%hd", "%Ld", "%c", "%5c", "%-3c", "%lld", "%q", "%5", "%", "%y",
             "%é", "%5%", "%.x"]
for v in ints[:40]:
    for f in rng.sample(pct_fixed, 5) + [rand_pct("diouxXc") for _ in range(2)]:
        run({"f": "pct_int", "fmt": f, "v": str(v)}, lambda f=f, v=v: f % v)
pct_ffixed = ["%f", "%e", "%E", "%g", "%G", "%F", "%.0f", "%#.0f", "%#g", "%#.3g", "%10.3f",
              "%-10.3e", "%010.3e", "%+f", "% f", "% 05.1f", "%05f", "%+05f", "%.20g", "%.15e",
              "%.300f", "%-+8.2e", "%.f", "%#e"]
for x in floats[:150]:
    for f in rng.sample(pct_ffixed, 3) + [rand_pct("eEfFgG")]:
        run({"f": "pct_float", "fmt": f, "v": fkey(x)}, lambda f=f, x=x: f % x)
pct_sfixed = ["%s", "%5s", "%-5s", "%.1s", "%5.2s", "%05s", "%+s", "%#s", "% s", "%c", "%5c",
              "%.0c", "%r", "%.2r", "%-6r", "%a"]
for s in strs:
    for f in pct_sfixed:
        conv = f[-1]
        text = s if conv in "sc" else (repr(s) if conv == "r" else ascii(s))
        if conv == "c":
            run({"f": "pct_str", "fmt": f, "v": s}, lambda f=f, s=s: f % (s,))
        else:
            run({"f": "pct_str", "fmt": f, "v": text}, lambda f=f, s=s: f % (s,))

out = sys.argv[1] if len(sys.argv) > 1 else "-"
fh = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")
for c in cases:
    fh.write(json.dumps(c) + "\n")
if fh is not sys.stdout:
    fh.close()
