"""An HTTPS server on 127.0.0.1 serving IP feeds for tests, with the throwaway certificate
of the splunkd double (valid for 127.0.0.1 and localhost; trust it with ``SSL_CERT_FILE``).

``feeds`` maps a path to the body served; ``redirects`` maps a path to a Location answered
with 302.  ``requests`` lists the paths asked for."""
import http.server
import ssl
import threading

from splunkd_double._tls import self_signed_cert


class FeedServer(object):
    def __init__(self):
        self.feeds = {}
        self.redirects = {}
        self.requests = []
        self.cert_file, key_file = self_signed_cert()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                if self.path in owner.redirects:
                    self.send_response(302)
                    self.send_header("Location", owner.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = owner.feeds.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()
