#!/usr/bin/env python3
"""A webhook receiver for the Sev-1 test: listens on 127.0.0.1:PORT, answers
the first POST with 503 (so the sender's retry is exercised) and the next ones
with 204, appending each body as one line to OUT. Stops after 60 s."""
import http.server, sys, threading

port, out = int(sys.argv[1]), sys.argv[2]
seen = [0]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen[0] += 1
        with open(out, "ab") as f:
            f.write(b"%d %s %s\n" % (seen[0], self.headers.get("Content-Type", "").encode(), body))
        self.send_response(503 if seen[0] == 1 else 204)
        self.end_headers()

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", port), H)
threading.Timer(60, srv.shutdown).start()
srv.serve_forever()
