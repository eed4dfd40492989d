"""Serve a folder over HTTP on 127.0.0.1 the way a Python user would, for
bulkget's integration tests (integration/python_test.go).

    pyserve.py KIND PORT ROOT LOG [RATE]

KIND is one of
  tornado  Tornado's StaticFileHandler (the server under Jupyter): it answers
           "Range: bytes=0-" with 200 and the whole file, other ranges with 206;
  flask    Flask's send_from_directory (Werkzeug's send_file), on Werkzeug's
           threaded development server;
  plain    Python's http.server (SimpleHTTPRequestHandler), which ignores
           Range headers and answers every request with the whole file.

LOG receives one JSON line per request, with the fields nginx's access log
has in these tests (all strings): port, status, method, uri, range, bytes,
proto, time (when the line was written, seconds since the epoch), rt (seconds
since the request came), and client (the client's port, which tells its
connections apart). A line is written once the status is known; for Tornado
also when the client goes away before the end.

RATE, if given and not 0, caps each response at RATE bytes per second the
way nginx's limit_rate does (ngx_http_write_filter_module.c), so that a
comparison with nginx under "limit_rate" is fair: a response may have sent
RATE * (seconds since it began + 1) bytes, seconds counted as nginx counts
them, in turns of the clock's whole second (ngx_time() - start_sec); it sends in batches of at
most 2 MiB (nginx's default sendfile_max_chunk), and after each batch waits
as long as the batch takes at RATE, then longer if it is still over the
allowance. Each connection carries one response at a time, so this is a cap
per connection, as limit_rate is.
"""

import json
import os
import sys
import threading
import time

KIND, PORT, ROOT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
RATE = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0

_log_lock = threading.Lock()
_log_file = open(LOG, "a", buffering=1)


def log(status, method, uri, rng, nbytes, proto, began, client):
    line = {
        "port": str(PORT), "status": str(status), "method": method, "uri": uri,
        "range": rng or "", "bytes": str(nbytes), "proto": proto,
        "time": "%.3f" % time.time(), "rt": "%.3f" % (time.time() - began),
        "client": str(client),
    }
    with _log_lock:
        _log_file.write(json.dumps(line) + "\n")


BATCH = 2 << 20  # nginx's sendfile_max_chunk


class Pace:
    """limit_rate's rule for one response; after() is told of every piece
    sent and returns how long to wait before the next."""

    def __init__(self):
        self.began, self.sent, self.batch = int(time.time()), 0, 0

    def allowance(self, at):
        return RATE * (int(at) - self.began + 1) - self.sent

    def after(self, n):
        if not RATE:
            return 0.0
        self.sent += n
        self.batch += n
        now = time.time()
        if self.batch < BATCH and self.allowance(now) > 0:
            return 0.0
        wait, self.batch = self.batch / RATE, 0
        over = -self.allowance(now + wait)
        if over >= 0:
            wait += over / RATE + 0.001
        return wait


def tornado_main():
    import asyncio
    import tornado.ioloop
    import tornado.web

    class Handler(tornado.web.StaticFileHandler):
        def prepare(self):
            self._began, self._pace, self._sent, self._unpaced, self._logged = time.time(), Pace(), 0, 0, False

        def write(self, chunk):
            self._sent += len(chunk)
            self._unpaced += len(chunk)
            super().write(chunk)

        def flush(self, include_footers=False):
            fut = super().flush(include_footers)
            wait = self._pace.after(self._unpaced)
            self._unpaced = 0
            if wait <= 0:
                return fut
            return asyncio.ensure_future(self._paced(fut, wait))

        async def _paced(self, fut, wait):
            await fut
            await asyncio.sleep(wait)

        def _access(self):
            if self._logged:
                return
            self._logged = True
            r = self.request
            client = r.connection.context.address[1] if getattr(r.connection, "context", None) else 0
            log(self.get_status(), r.method, r.uri, r.headers.get("Range"), self._sent, r.version, self._began, client)

        def on_finish(self):
            self._access()

        def on_connection_close(self):
            self._access()

    app = tornado.web.Application([(r"/(.*)", Handler, {"path": ROOT})], log_function=lambda h: None)
    app.listen(PORT, address="127.0.0.1")
    tornado.ioloop.IOLoop.current().start()


def flask_main():
    from flask import Flask, g, request, send_from_directory

    app = Flask(__name__)

    @app.before_request
    def began():
        g.began = time.time()

    @app.route("/<path:name>")
    def serve(name):
        return send_from_directory(ROOT, name)

    @app.after_request
    def access(resp):
        e = request.environ
        log(resp.status_code, request.method, e.get("RAW_URI") or request.full_path, request.headers.get("Range"),
            resp.content_length or 0, e.get("SERVER_PROTOCOL", ""), g.began, e.get("REMOTE_PORT", 0))
        return resp

    def paced(wsgi):
        def app_(environ, start_response):
            body = wsgi(environ, start_response)
            if not RATE:
                return body

            def chunks():
                pace = Pace()
                try:
                    for chunk in body:
                        yield chunk
                        wait = pace.after(len(chunk))
                        if wait > 0:
                            time.sleep(wait)
                finally:
                    if hasattr(body, "close"):
                        body.close()

            return chunks()
        return app_

    from werkzeug.serving import run_simple
    run_simple("127.0.0.1", PORT, paced(app.wsgi_app), threaded=True)


def plain_main():
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            log(int(code), self.command, self.path, self.headers.get("Range"), 0, self.request_version,
                time.time(), self.client_address[1])

        def copyfile(self, source, outputfile):
            pace = Pace()
            while True:
                chunk = source.read(64 << 10)
                if not chunk:
                    return
                outputfile.write(chunk)
                wait = pace.after(len(chunk))
                if wait > 0:
                    time.sleep(wait)

    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), partial(Handler, directory=ROOT))
    srv.serve_forever()


if __name__ == "__main__":
    {"tornado": tornado_main, "flask": flask_main, "plain": plain_main}[KIND]()
