"""A small forwarding HTTP proxy on 127.0.0.1 for tests: counts what passes through it and can
require Basic proxy authentication (answering 407 otherwise).  HTTPS goes through it as
CONNECT tunnels (recorded as ``("CONNECT", "host:port")``)."""
import base64
import http.client
import http.server
import select
import socket
import socketserver
import threading
import urllib.parse


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _authorised(self):
        proxy = self.server.owner
        header = self.headers.get("Proxy-Authorization")
        proxy.auth_headers.append(header)
        if proxy.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(("%s:%s" % proxy.credentials).encode()).decode()
        if header == expected:
            return True
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _forward(self):
        proxy = self.server.owner
        if not self._authorised():
            return
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")}
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        path = target.path + ("?" + target.query if target.query else "")
        conn.request(self.command, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        proxy.forwarded.append((self.command, self.path))
        proxy.request_headers.append({k.lower(): v for k, v in headers.items()})
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def do_CONNECT(self):
        proxy = self.server.owner
        if not self._authorised():
            return
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=30)
        proxy.forwarded.append(("CONNECT", self.path))
        proxy.request_headers.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200, "Connection established")
        self.end_headers()
        ends = [self.connection, upstream]
        try:
            while True:
                readable, _, _ = select.select(ends, [], [], 30)
                if not readable:
                    break
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class ForwardProxy(object):
    def __init__(self, credentials=None):
        self.credentials = credentials
        self.forwarded = []
        self.auth_headers = []
        self.request_headers = []  # per forwarded request, lower-cased names
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def save_proxy_settings(splunkd, host, port, username=None, password=None):
    """Configuration > Proxy as UCC saves it in the splunkd double (password encrypted)."""
    fields = {"proxy_enabled": "1", "proxy_type": "http", "proxy_url": host,
              "proxy_port": str(port)}
    if username:
        fields["proxy_username"] = username
    if password:
        fields["proxy_password"] = password
    splunkd.add_ucc_stanza("ta_trailwatch_settings", "proxy", fields)
