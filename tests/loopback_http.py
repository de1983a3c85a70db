"""An HTTP server on 127.0.0.1 and a free port, served from a daemon thread: the base of the
tests' loopback service doubles (CloudTrail LookupEvents, the EC2 instance metadata service)."""
import threading
from http.server import ThreadingHTTPServer


class LoopbackHttp(object):
    def _serve(self, handler_class):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
