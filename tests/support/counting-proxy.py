#!/usr/bin/env python3
"""A tiny HTTP front for a package mirror, for tests: every GET is forwarded
to UPSTREAM and its path appended to LOG, so a test can count what apt
really downloaded. Prints the port it listens on (127.0.0.1) and serves
until killed.

usage: counting-proxy.py UPSTREAM_URL LOG_FILE
"""
import shutil
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = sys.argv[1].rstrip("/")
LOG = sys.argv[2]
LOCK = threading.Lock()
PASSED_UP = ("If-Modified-Since", "If-None-Match", "If-Range", "Range")
PASSED_DOWN = ("Content-Length", "Content-Type", "Last-Modified", "ETag",
               "Content-Range", "Accept-Ranges", "Date")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with LOCK, open(LOG, "a") as log:
            log.write(self.path + "\n")
        request = urllib.request.Request(UPSTREAM + self.path)
        for name in PASSED_UP:
            if name in self.headers:
                request.add_header(name, self.headers[name])
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        self.send_response(response.status)
        for name in PASSED_DOWN:
            if response.headers.get(name) is not None:
                self.send_header(name, response.headers[name])
        if response.headers.get("Content-Length") is None:
            if response.status in (204, 304) or response.status < 200:
                self.send_header("Content-Length", "0")
            else:
                body = response.read()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        self.end_headers()
        shutil.copyfileobj(response, self.wfile)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
