#!/usr/bin/env python3
"""Differential corpus for lib/lambda/pytime.c (strptime/strftime/isoformat).

CPython 3.11 answers every case; see gen_pyfmt.py for the line format.
A datetime is passed as [y, m, d, H, M, S, us, offset_s|null, offset_us,
tzname|null, is_date]; a strptime result is compared as
"isoformat|tzname()".

Excluded on purpose (see the report): non-ASCII decimal digits (\\d in
_strptime's regexes accepts them, rectify does not) and non-ASCII literals
that only match under Unicode case folding. re.error messages for a
directive used twice are compared by class only (CPython's names a position
in its generated regex).
"""
import json
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

if sys.version_info[:2] != (3, 11):
    print("pytime differential: needs CPython 3.11, found %s; skipped" % sys.version.split()[0])
    sys.exit(77)
if time.tzname != ("UTC", "UTC") or time.daylight:
    # The C side reads the same TZ through tzset(); keep the corpus stable.
    print("pytime differential: needs TZ=UTC (found %r); run with TZ=UTC" % (time.tzname,))
    sys.exit(77)

rng = random.Random(424242)
cases = []


def run(entry, fn):
    try:
        entry["out"] = fn()
    except Exception as e:  # noqa: BLE001
        entry["exc"] = type(e).__name__
        entry["msg"] = str(e)
    cases.append(entry)


def show(d):
    return d.isoformat() + "|" + (d.tzname() or "")


def enc(d):
    if isinstance(d, datetime):
        off = d.utcoffset()
        if off is None:
            return [d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, None, 0,
                    None, False]
        secs = off.days * 86400 + off.seconds
        us = off.microseconds
        if secs < 0 and us:
            secs += 1
            us -= 1000000
        name = d.tzname()
        if name == timezone(off).tzname(None):
            name = None
        return [d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, secs, us,
                name, False]
    return [d.year, d.month, d.day, 0, 0, 0, 0, None, 0, None, True]


def rand_dt(aware=None):
    y = rng.choice([1, 5, 99, 999, 1000, 1900, 1969, 1970, 2000, 2023, 2024, 9999,
                    rng.randint(1, 9999)])
    m = rng.randint(1, 12)
    dmax = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day if y < 9999 or m < 12 else 31
    d = rng.randint(1, dmax)
    us = rng.choice([0, 0, 1, 500000, 999999, rng.randint(0, 999999)])
    dt = datetime(y, m, d, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), us)
    if aware is None:
        aware = rng.random() < 0.4
    if aware:
        off = timedelta(seconds=rng.choice([0, 3600, -3600, 19800, -34200, 45, -86399,
                                            rng.randint(-86399, 86399)]),
                        microseconds=rng.choice([0, 0, 0, 7, -250000]))
        if abs(off) >= timedelta(hours=24):
            off = timedelta(0)
        name = rng.choice([None, None, "UTC", "EST", "Foo%"])
        dt = dt.replace(tzinfo=timezone(off, name) if name else timezone(off))
    return dt


# ---- strftime / isoformat / weekday --------------------------------------------
directives = list("aAbBcdfHIjmMpSUwWxXyYzZGuV%CDeFghklnPrRsTt") + ["%:z", "-d", "_m", "^a",
                                                                "#b", "Ey", "Od", "5Y", "q"]
for _ in range(500):
    dt = rand_dt()
    if rng.random() < 0.1:
        dt = dt.date()
    k = rng.randint(1, 4)
    parts = []
    for _ in range(k):
        d = rng.choice(directives)
        parts.append("%" + d if not d.startswith("%") else d)
        parts.append(rng.choice(["", " ", "-", "T", ":", "é", "%%"]))
    fmt = "".join(parts)
    if rng.random() < 0.03:
        fmt += "%"
    run({"f": "strftime", "dt": enc(dt), "fmt": fmt}, lambda dt=dt, fmt=fmt: dt.strftime(fmt))
for fmt in ["", "%", "%%", "%%z", "%%%z", "%Z%Z", "%1000Y", "%5000Y", "%-z", "%_Z", "plain"]:
    dt = rand_dt(aware=True)
    run({"f": "strftime", "dt": enc(dt), "fmt": fmt}, lambda dt=dt, fmt=fmt: dt.strftime(fmt))
for _ in range(150):
    dt = rand_dt()
    if rng.random() < 0.15:
        dt = dt.date()
    sep = rng.choice(["T", " "])
    run({"f": "isoformat", "dt": enc(dt), "sep": sep},
        lambda dt=dt, sep=sep: dt.isoformat(sep) if isinstance(dt, datetime) else dt.isoformat())
    run({"f": "weekday", "dt": enc(dt)}, lambda dt=dt: str(dt.weekday()))

# ---- strptime -----------------------------------------------------------------
good_formats = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z", "%d/%m/%Y",
                "%m/%d/%y", "%b %d %Y", "%B %d, %Y", "%a %b %d %H:%M:%S %Y", "%c", "%x", "%X",
                "%I:%M %p", "%I%p", "%H%M%S", "%Y%m%d", "%j %Y", "%Y %U %w", "%Y %W %a",
                "%G-W%V-%u", "%G %V %A", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S %Z",
                "%Y-%m-%d %H:%M:%S %z %Z", "%z", "%Z", "%y%m%d", "%d %B %Y", "%A %d %B %Y",
                "%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S%z", "%%Y %Y", "[%Y]", "%Y|%m", "%Y (%m)",
                "%d-%b-%y", "%Y\t%m", "%Y  %m", "%m%d", "%Y-%j", "%S", "%f", "%p"]
bad_formats = ["%q", "%", "%Y%", "% d", "%.", "%Y %Y", "%d %c", "%E", "%Ey", "%\\", "%é", "%(",
               "%-d", "%Y-%m-%d%"]

for _ in range(500):
    fmt = rng.choice(good_formats)
    dt = rand_dt(aware="%z" in fmt)
    try:
        s = dt.strftime(fmt)
    except Exception:  # noqa: BLE001
        continue
    r = rng.random()
    if r < 0.15:  # strip a leading zero
        i = s.find("0")
        if i >= 0:
            s = s[:i] + s[i + 1:]
    elif r < 0.25:
        s = s.upper() if rng.random() < 0.5 else s.lower()
    elif r < 0.32:
        s = s.replace(" ", rng.choice(["  ", "\t", "\n ", "\u00a0", "\u2003"]))
    elif r < 0.40:
        s = s + rng.choice(["x", " ", "0", "Z", "'", "é"])
    elif r < 0.47:
        i = rng.randrange(len(s) + 1)
        s = s[:i] + rng.choice(["9", " ", "-", "a", ":", "\x01"]) + s[i:]
    elif r < 0.52 and len(s) > 1:
        i = rng.randrange(len(s))
        s = s[:i] + s[i + 1:]
    run({"f": "strptime", "s": s, "fmt": fmt}, lambda s=s, fmt=fmt: show(datetime.strptime(s, fmt)))

manual = [
    ("1 1", "%d %d"), ("+9959", "%z"), ("+2400", "%z"), ("+23:59:59.999999", "%z"),
    ("-23:59:59.999999", "%z"), ("+01:0030", "%z"), ("+0100:30", "%z"), ("Z", "%z"), ("z", "%z"),
    ("+01:30:15.5", "%z"), ("-0000", "%z"), ("it's", "%q"), ("x", "%"), ("0000", "%Y"),
    ("2023 0 1", "%Y %U %w"), ("0001 0 1", "%Y %U %w"), ("9999 53 6", "%Y %U %w"),
    ("2024 366", "%Y %j"), ("2023 366", "%Y %j"), ("utc", "%Z"), ("UTC +0100", "%Z %z"),
    ("gmt -0530", "%Z %z"), ("EST", "%Z"), ("1 1", "%G %V"), ("2023 52 1", "%G %V %u"),
    ("0001 01 1", "%G %V %u"), ("0001 01 7", "%G %V %u"), ("9999 52 7", "%G %V %u"),
    ("2023 1", "%G %V"), ("2023 1 1 5", "%G %V %u %j"), ("1 1", "%V %u"),
    ("1 2023 1", "%V %Y %u"), ("1 2", "%d%m"), ("112", "%d%m"), ("1112", "%d%m"),
    ("2023-02-29", "%Y-%m-%d"), ("02-29", "%m-%d"), ("12 pm", "%I %p"), ("12 am", "%I %p"),
    ("1 PM", "%I %p"), ("13 pm", "%I %p"), ("pm 11", "%p %I"), ("11", "%I"), ("T", "t"),
    ("x", "%%"), ("%", "%%"), ("5", "%S5"), ("61", "%S"), ("60", "%S"),
    ("mon 2023 1 1", "%a %Y %U %w"), ("2023-W01-1", "%G-W%V-%u"), (" 5", "%d"), ("  5", "%d"),
    ("5 ", "%d"), ("5", "%d "), ("1234567", "%f"), ("123", "%f"), ("1", "%j"), ("000", "%j"),
    ("367", "%j"), ("mAy", "%b"), ("may", "%B"), ("September", "%b"), ("Sept", "%b"),
    ("thursday", "%a"), ("Thu", "%A"), ("a\tb\x01é\xa0'\"", "%Y"), ("it's \"q\"", "%Y"),
    ("back\\slash", "%Y"), ("", ""), ("", "%Y"), ("x", ""), ("2023", "%Y%m"),
    ("20231", "%Y%m"), ("2023123", "%Y%m%d"), ("Wed Mar 17 22:44:55 1999", "%c"),
    ("wed  mar  7 2:4:5 1999", "%c"), ("03/17/99", "%x"), ("3/7/69", "%x"), ("22:44:55", "%X"),
    ("1999 2 0", "%Y %W %w"), ("1999 0 0", "%Y %W %w"), ("1999 53 6", "%Y %W %w"),
    ("2000 2 tue", "%Y %U %a"), ("Feb 29", "%b %d"), ("29 2 1900", "%d %m %Y"),
    ("31 4 2023", "%d %m %Y"), ("2023-01-01T00:00:00Z", "%Y-%m-%dT%H:%M:%S%z"),
    ("12:00 +05:00", "%H:%M %z"), ("12:00+05", "%H:%M%z"), ("12", "%H%M"), ("123", "%H%M"),
    ("1234", "%H%M"), ("235", "%H%M"), ("2359", "%H%M"), ("2360", "%H%M"),
    ("\u2003\u2003", " "), ("a", "A"), ("\u00e9", "\u00c9"), ("68", "%y"), ("69", "%y"),
    ("99 12 31", "%y %m %d"), ("1.5", "%S.%f"), ("1:2:3", "%H:%M:%S"), ("1:2", "%I:%M"),
    ("Sun 2023 0", "%a %Y %U"), ("Sun 0", "%a %U"),
]
for s, fmt in manual:
    run({"f": "strptime", "s": s, "fmt": fmt}, lambda s=s, fmt=fmt: show(datetime.strptime(s, fmt)))
for fmt in bad_formats:
    run({"f": "strptime", "s": "2023 1", "fmt": fmt},
        lambda fmt=fmt: show(datetime.strptime("2023 1", fmt)))

out = sys.argv[1] if len(sys.argv) > 1 else "-"
fh = sys.stdout if out == "-" else open(out, "w", encoding="utf-8")
for c in cases:
    fh.write(json.dumps(c) + "\n")
if fh is not sys.stdout:
    fh.close()
