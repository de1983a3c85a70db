"""A small SMTP server on 127.0.0.1 for the notify tests (the standard library's smtpd is
gone in Python 3.12, and aiosmtpd is not a dependency of this project).

Speaks what smtplib uses: EHLO/HELO, AUTH PLAIN and LOGIN (when users are configured, MAIL
is refused until authenticated, as relays that require authentication do), MAIL, RCPT, DATA
(dot-unstuffing), RSET, NOOP, QUIT. It never offers STARTTLS (a test uses that to check that
the action refuses to send in clear text when Splunk's settings require TLS). Recipients in
`reject` are answered 550. Every accepted message is kept with its envelope.
"""
import base64
import email
import email.policy
import re
import socketserver
import threading

_ADDRESS = re.compile(r"<([^>]*)>")


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, code, text="OK", more=()):
        lines = list(more) + [text]
        for line in lines[:-1]:
            self.wfile.write(("%d-%s\r\n" % (code, line)).encode("ascii"))
        self.wfile.write(("%d %s\r\n" % (code, lines[-1])).encode("ascii"))
        self.wfile.flush()

    def read_line(self):
        line = self.rfile.readline(65537)
        return line.decode("utf-8", "replace").rstrip("\r\n") if line else None

    def handle(self):
        server = self.server.smtp
        envelope = {"from": None, "to": []}
        user = None
        self.reply(220, "loopback ESMTP ready")
        while True:
            line = self.read_line()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                features = ["loopback", "8BITMIME", "SIZE 10485760"]
                if server.users:
                    features.append("AUTH PLAIN LOGIN")
                self.reply(250, features[-1], features[:-1])
            elif verb == "HELO":
                self.reply(250, "loopback")
            elif verb == "AUTH":
                user = self.authenticate(server, arg)
            elif verb == "MAIL":
                if server.users and user is None:
                    self.reply(530, "5.7.0 Authentication required")
                    continue
                envelope = {"from": _address(arg), "to": []}
                self.reply(250, "2.1.0 OK")
            elif verb == "RCPT":
                rcpt = _address(arg)
                if envelope["from"] is None:
                    self.reply(503, "5.5.1 MAIL first")
                elif rcpt in server.reject:
                    self.reply(550, "5.1.1 <%s>: mailbox unavailable" % rcpt)
                else:
                    envelope["to"].append(rcpt)
                    self.reply(250, "2.1.5 OK")
            elif verb == "DATA":
                if not envelope["to"]:
                    self.reply(503, "5.5.1 RCPT first")
                    continue
                self.reply(354, "End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    raw = self.rfile.readline(1048577)
                    if not raw or raw in (b".\r\n", b".\n"):
                        break
                    chunks.append(raw[1:] if raw.startswith(b"..") else raw)
                server.record(envelope, b"".join(chunks), user)
                envelope = {"from": None, "to": []}
                self.reply(250, "2.0.0 queued")
            elif verb == "RSET":
                envelope = {"from": None, "to": []}
                self.reply(250, "2.0.0 OK")
            elif verb == "NOOP":
                self.reply(250, "2.0.0 OK")
            elif verb == "QUIT":
                self.reply(221, "2.0.0 Bye")
                return
            else:
                self.reply(502, "5.5.2 Command not recognised")

    def authenticate(self, server, arg):
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        try:
            if mechanism == "PLAIN":
                if not initial:
                    self.reply(334, "")
                    initial = self.read_line() or ""
                _authzid, name, password = base64.b64decode(initial).decode("utf-8").split("\0")
            elif mechanism == "LOGIN":
                if initial:
                    name = base64.b64decode(initial).decode("utf-8")
                else:
                    self.reply(334, "VXNlcm5hbWU6")
                    name = base64.b64decode(self.read_line() or "").decode("utf-8")
                self.reply(334, "UGFzc3dvcmQ6")
                password = base64.b64decode(self.read_line() or "").decode("utf-8")
            else:
                self.reply(504, "5.5.4 Unrecognised authentication type")
                return None
        except (ValueError, UnicodeDecodeError):
            self.reply(501, "5.5.2 Cannot decode the credentials")
            return None
        if server.users.get(name) == password and password:
            server.logins.append(name)
            self.reply(235, "2.7.0 Authentication successful")
            return name
        self.reply(535, "5.7.8 Authentication credentials invalid")
        return None


def _address(arg):
    match = _ADDRESS.search(arg)
    return match.group(1) if match else arg.partition(":")[2].strip()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class LoopbackSmtp(object):
    def __init__(self, users=None, reject=()):
        self.users = dict(users or {})
        self.reject = set(reject)
        self.messages = []
        self.logins = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.smtp = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def mailserver(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def record(self, envelope, data, user):
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self.messages.append({"from": envelope["from"], "to": list(envelope["to"]),
                                  "user": user, "data": data, "message": parsed})

    def to(self, address):
        """The messages whose envelope includes `address`."""
        with self._lock:
            return [m for m in self.messages if address in m["to"]]
