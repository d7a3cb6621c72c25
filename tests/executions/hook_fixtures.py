"""A real local HTTP server for HTTP hooks, and a function hook for the allow-list tests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HookServer:
    """Answers each POST with the next of ``answers`` (status, body dict, delay seconds); the
    last answer repeats. Records every request (headers, raw body)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append({"headers": self.headers, "body": body})
                status, doc, delay = server.answers[min(len(server.requests), len(server.answers)) - 1]
                if delay:
                    time.sleep(delay)
                payload = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def passing_function(context):
    return {"status": "passed", "message": f"checked run {context.run_id} at {context.stage}"}


def slow_function(context):
    time.sleep(5)
    return True
