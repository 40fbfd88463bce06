#!/usr/bin/env python3
"""fake_ollama.py - a scripted stand-in for Ollama, for rectify's tests only.

It speaks the shapes of Ollama's docs/api.md that rectify uses:
  GET  /api/version -> {"version": "0.5.7"}
  GET  /api/tags    -> {"models": [{"name", "model", "modified_at", "size", "digest", "details"}]}
  POST /api/chat    -> {"model", "created_at", "message": {"role": "assistant", "content"},
                        "done_reason": "stop", "done": true, ...durations}
  POST /api/embed   -> {"model", "embeddings": [[floats], ...], "total_duration",
                        "load_duration", "prompt_eval_count"}; `input` is a string or a
                        list of strings; the vectors are the deterministic hashed
                        trigrams of docs/clustering.md ("Deterministic vectors"), so
                        rectify's rf_cluster_vector gives the same floats
  errors            -> {"error": "..."} with the status code (404 unknown model, 400 bad
                        request, 503 busy)

Answers to /api/chat are chosen by recognising the broken values in the prompt (the
lines "- <json string>" under "Broken values"), never from anything else: the fake
knows the test families' patterns, not their ground truth. Marker words in the values
select hostile behaviours:
  LOWCONF  a correct-looking answer with confidence 0.3
  BADJSON  content that is not JSON
  SCHEMA   JSON without confidence_score
  HOSTILE  a lambda that imports os (refused by the lambda language)
  FAILONE  a lambda that raises on one of the samples (FAILONE=7), also on the retry
  RETRYOK  a failing lambda first; after "It was refused" in the prompt, a correct one
  UNKNOWN  (or anything unrecognised) a low-confidence guess

Scenario (JSON file given with --scenario, all keys optional):
  {"burst_503": N,      first N chat requests answer 503 {"error": "server busy"}
   "reset": N,          first N chat requests get their connection reset
   "slow_ms": MS,       every chat answer waits MS first
   "slow_first": N,     ... only the first N (0 = all)
   "missing_model": true  /api/tags does not list the model,
   "embed_500": true    every /api/embed request answers 500 {"error": ...}}

Every request is appended to --log as one JSON line {"ts", "method", "path", "body"}
so tests can count model calls and check what was sent. python3 stdlib only.
"""
import argparse
import json
import re
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"chat": 0, "embed": 0}
LOCK = threading.Lock()


def lam(src, conf=0.95, kind="format", why="matches the family"):
    return {"transformation": src, "confidence_score": conf, "reasoning": why,
            "pattern_type": kind}


def date_fix(fmt):
    return lam("lambda x: datetime.strptime(x.strip(), '%s').strftime('%%Y-%%m-%%d')" % fmt,
               kind="date_format")


# (regex every broken value matches, answer)
FAMILIES = [
    (r"\d{2}/\d{2}/\d{4}", date_fix("%m/%d/%Y")),
    (r"\d{2}\.\d{2}\.\d{4}", date_fix("%d.%m.%Y")),
    (r"[A-Z][a-z]+ \d{1,2}, \d{4}", date_fix("%B %d, %Y")),
    (r"\d{4}_\d{2}_\d{2}", date_fix("%Y_%m_%d")),
    (r"\d{8}", date_fix("%Y%m%d")),
    (r"\d{1,2}-[A-Z][a-z]{2}-\d{4}", date_fix("%d-%b-%Y")),
    (r"\d+ g", lam("lambda x: x[:-2]", kind="unit_suffix")),
    (r"\d{1,3},\d{3}g", lam("lambda x: x[:-1].replace(',', '')", kind="thousands")),
    (r"\d+\.\d+ grams", lam("lambda x: x.split()[0]", kind="unit_suffix")),
    (r"weight: \d+", lam("lambda x: x.split(': ')[1]", kind="label_prefix")),
    (r"KG\d+", lam("lambda x: str(int(x[2:]) * 1000)", kind="unit_conversion")),
    (r" [A-Za-z0-9]+@[A-Za-z.]+ ", lam("lambda x: x.strip().lower()", kind="case_whitespace")),
    (r"[a-z0-9]+\(at\)[a-z.]+", lam("lambda x: x.replace('(at)', '@')", kind="obfuscated")),
    (r"[a-z0-9]+ at [a-z]+ dot [a-z]+",
     lam("lambda x: x.replace(' at ', '@').replace(' dot ', '.')", kind="obfuscated")),
    (r"mailto:\S+", lam("lambda x: x.removeprefix('mailto:')", kind="prefix")),
    # the apply test's family: "item-<n>" -> 1000 // n (n = 0 raises)
    (r"item-\d+", lam("lambda x: str(1000 // int(x[5:]))", kind="label_prefix")),
]


def vector(v: bytes, dim: int) -> list:
    """docs/clustering.md "Deterministic vectors": the twin of rf_cluster_vector."""
    t = b" " + bytes(c + 32 if 65 <= c <= 90 else c for c in v) + b" "
    grams = [t[i:i + 3] for i in range(len(t) - 2)] or [t]
    out = [0.0] * dim
    for g in grams:
        h = 2166136261
        for c in g:
            h = ((h ^ c) * 16777619) & 0xFFFFFFFF
        out[h % dim] += -1.0 if h & 0x80000000 else 1.0
    n = sum(x * x for x in out) ** 0.5
    return [x / n for x in out] if n else out


def broken_values(prompt):
    values, on = [], False
    for line in prompt.split("\n"):
        if line.startswith("Broken values"):
            on = True
            continue
        if on:
            if line.startswith("- "):
                try:
                    values.append(json.loads(line[2:]))
                except ValueError:
                    values.append(line[2:])
            elif values:
                break
    return values


def answer_for(values, prompt):
    """Returns the assistant content (a string) for these broken values."""
    joined = " ".join(v for v in values if isinstance(v, str))
    retry = "It was refused" in prompt
    if "LOWCONF" in joined:
        return json.dumps(lam("lambda x: x.replace('LOWCONF', '')", conf=0.3))
    if "BADJSON" in joined:
        return "Sure! Here is the fix: lambda x: x.strip()"
    if "SCHEMA" in joined:
        return json.dumps({"transformation": "lambda x: x", "reasoning": "no score"})
    if "HOSTILE" in joined:
        return json.dumps(lam("lambda x: __import__('os').system('touch /tmp/pwned') or x"))
    if "FAILONE" in joined:
        # FAILONE=N: raises ZeroDivisionError on N = 7, also on the retry
        return json.dumps(lam("lambda x: str(100 // (int(x[8:]) - 7))"))
    if "RETRYOK" in joined:
        # RETRYOK+N: first a lambda whose output breaks the contract, then a good one
        if retry:
            return json.dumps(lam("lambda x: str(int(x.split('+')[1]))"))
        return json.dumps(lam("lambda x: x.split('+')[1] + 'x'"))
    for rx, ans in FAMILIES:
        if values and all(isinstance(v, str) and re.fullmatch(rx, v) for v in values):
            return json.dumps(ans)
    return json.dumps(lam("lambda x: x.strip()", conf=0.2, why="unrecognised"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ollama/1"

    def log_message(self, fmt, *args):
        pass

    def record(self, body):
        entry = {"ts": time.time(), "method": self.command, "path": self.path, "body": body}
        with LOCK:
            with open(self.server.args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record(None)
        a = self.server.args
        if self.path == "/api/version":
            return self.send_json(200, {"version": "0.5.7"})
        if self.path == "/api/tags":
            models = [] if self.server.scenario.get("missing_model") else [a.model]
            models.append("other-model:7b")
            return self.send_json(200, {"models": [{
                "name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z",
                "size": 4661224676, "digest": a.digest if m == a.model else "0" * 64,
                "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B",
                            "quantization_level": "Q4_0"}} for m in models]})
        return self.send_json(404, {"error": "404 page not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            self.record(raw.decode("utf-8", "replace"))
            return self.send_json(400, {"error": "invalid JSON body"})
        self.record(body)
        if self.path == "/api/embed":
            return self.embed(body)
        if self.path != "/api/chat":
            return self.send_json(404, {"error": "404 page not found"})
        sc, a = self.server.scenario, self.server.args
        with LOCK:
            STATE["chat"] += 1
            k = STATE["chat"]
        if k <= sc.get("reset", 0):
            # RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if k <= sc.get("burst_503", 0):
            return self.send_json(503, {"error": "server busy, please try again"})
        slow = sc.get("slow_ms", 0)
        if slow and (sc.get("slow_first", 0) == 0 or k <= sc["slow_first"]):
            time.sleep(slow / 1000.0)
        if body.get("model") != a.model:
            return self.send_json(404, {"error": "model '%s' not found" % body.get("model")})
        if body.get("stream") is not False or not isinstance(body.get("format"), dict):
            return self.send_json(400, {"error": "the fake wants stream:false and a schema"})
        msgs = body.get("messages") or []
        prompt = "\n".join(m.get("content", "") for m in msgs if m.get("role") == "user")
        content = answer_for(broken_values(prompt), prompt)
        return self.send_json(200, {
            "model": a.model, "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done_reason": "stop", "done": True, "total_duration": 1000000,
            "load_duration": 1000, "prompt_eval_count": 100, "prompt_eval_duration": 1000,
            "eval_count": 50, "eval_duration": 1000})

    def embed(self, body):
        sc, a = self.server.scenario, self.server.args
        with LOCK:
            STATE["embed"] += 1
        if sc.get("embed_500"):
            return self.send_json(500, {"error": "embedding failed: scenario embed_500"})
        if not isinstance(body, dict) or body.get("model") != a.embed_model:
            model = body.get("model") if isinstance(body, dict) else None
            return self.send_json(404, {"error": "model '%s' not found" % model})
        inp = body.get("input")
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not inp or not all(isinstance(x, str) for x in inp):
            return self.send_json(400, {"error": "input must be a string or a list of strings"})
        return self.send_json(200, {
            "model": a.embed_model,
            "embeddings": [vector(x.encode("utf-8"), a.embed_dim) for x in inp],
            "total_duration": 1000000, "load_duration": 1000, "prompt_eval_count": len(inp)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log", required=True)
    ap.add_argument("--model", default="rectify-test:latest")
    ap.add_argument("--digest", default="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72")
    ap.add_argument("--embed-model", default="all-minilm")
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--scenario")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.args = args
    srv.scenario = json.load(open(args.scenario)) if args.scenario else {}
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    sys.stdout.write("fake_ollama listening on 127.0.0.1:%d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
