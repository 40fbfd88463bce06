#!/usr/bin/python3
"""Strict check of a Prometheus text exposition (rectifyd's /metrics).

Parses with prometheus_client's parser (Debian's python3-prometheus-client)
and enforces what the parser lets through: every family has HELP and TYPE
before its samples, names follow the conventions (rectify_ prefix, counters end
in _total, no duplicate series), histograms have cumulative buckets ending in
+Inf equal to _count. Prints the samples as JSON ({"name{labels}": value}) for
the caller to compare with the database. Exit 1 with the reason on any fault."""
import json, re, sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
def die(msg):
    print("metrics check failed: " + msg, file=sys.stderr)
    sys.exit(1)

if not text.endswith("\n"):
    die("exposition must end with a newline")
name_re = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
seen_help, seen_type, sampled = set(), {}, set()
for n, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        name = line.split()[2]
        if name in seen_help: die("line %d: second HELP for %s" % (n, name))
        if name in sampled: die("line %d: HELP after samples of %s" % (n, name))
        seen_help.add(name)
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split()
        if typ not in ("counter", "gauge", "histogram", "summary", "untyped"):
            die("line %d: bad type %s" % (n, typ))
        if name not in seen_help: die("line %d: TYPE before HELP for %s" % (n, name))
        seen_type[name] = typ
    elif line.startswith("#") or not line.strip():
        die("line %d: unexpected line %r" % (n, line))
    else:
        name = re.split(r"[{ ]", line, 1)[0]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        fam = name if name in seen_type else base
        if fam not in seen_type: die("line %d: sample %s without TYPE" % (n, name))
        sampled.add(fam)

samples, series = {}, set()
for fam in text_string_to_metric_families(text):
    if not name_re.match(fam.name): die("bad name " + fam.name)
    if not fam.name.startswith("rectify_"): die("missing rectify_ prefix: " + fam.name)
    typ = seen_type.get(fam.name) or seen_type.get(fam.name + "_total")
    if typ == "counter":
        for s in fam.samples:
            if not s.name.endswith("_total"): die("counter sample without _total: " + s.name)
    if fam.type == "histogram":
        buckets = [s for s in fam.samples if s.name.endswith("_bucket")]
        les = [float(s.labels["le"]) for s in buckets]
        if les != sorted(les) or les[-1] != float("inf"): die("bad buckets in " + fam.name)
        vals = [s.value for s in buckets]
        if vals != sorted(vals): die("buckets not cumulative in " + fam.name)
        count = [s.value for s in fam.samples if s.name.endswith("_count")]
        if count != [vals[-1]]: die("+Inf bucket != _count in " + fam.name)
    for s in fam.samples:
        if s.value < 0 and fam.type == "counter": die("negative counter " + s.name)
        key = s.name + ("{" + ",".join("%s=%s" % kv for kv in sorted(s.labels.items())) + "}"
                        if s.labels else "")
        if key in series: die("duplicate series " + key)
        series.add(key)
        samples[key] = s.value
print(json.dumps(samples, sort_keys=True))
