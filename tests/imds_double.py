"""A loopback EC2 instance metadata service (IMDS) double: what an EC2 instance with an
instance profile answers about its role credentials, on 127.0.0.1 and a free port. Point
botocore at it with AWS_EC2_METADATA_SERVICE_ENDPOINT=<url> (and
AWS_EC2_METADATA_DISABLED=false).

Follows the EC2 User Guide, "Use the Instance Metadata Service to access instance metadata"
and "Retrieve security credentials from instance metadata":

- ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1-21600) returns
  an IMDSv2 session token; a request without the TTL header is a 400;
- ``GET /latest/meta-data/iam/security-credentials/`` returns the role name,
  ``GET .../security-credentials/<role>`` the JSON document (``Code``, ``LastUpdated``,
  ``Type`` ``AWS-HMAC``, ``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``);
- with ``v2_only=True`` (``HttpTokens=required``) a GET without a valid
  ``X-aws-ec2-metadata-token`` is a 401; otherwise IMDSv1 GETs are answered too.

``credentials`` is a callable returning (access key id, secret, session token, expiration
datetime), so a test can hand out credentials moto's STS issued for an instance role.
``requests`` records (method, path, had_token) of every request.
"""
import datetime
import json
import secrets
from http.server import BaseHTTPRequestHandler

from loopback_http import LoopbackHttp

BASE = "/latest/meta-data/iam/security-credentials/"


class ImdsDouble(LoopbackHttp):
    def __init__(self, role_name, credentials, v2_only=True):
        self.role_name = role_name
        self.credentials = credentials
        self.v2_only = v2_only
        self.tokens = set()
        self.requests = []

    def start(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body, content_type="text/plain"):
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                double.requests.append(("PUT", self.path, False))
                if self.path != "/latest/api/token":
                    return self._answer(404, "Not Found")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self._answer(400, "Bad Request")
                token = secrets.token_urlsafe(32)
                double.tokens.add(token)
                return self._answer(200, token)

            def do_GET(self):
                has_token = self.headers.get("X-aws-ec2-metadata-token") in double.tokens
                double.requests.append(("GET", self.path, has_token))
                if double.v2_only and not has_token:
                    return self._answer(401, "Unauthorized")
                if self.path == BASE:
                    return self._answer(200, double.role_name)
                if self.path == BASE + double.role_name:
                    key_id, secret, token, expiration = double.credentials()
                    now = datetime.datetime.now(datetime.timezone.utc)
                    return self._answer(200, json.dumps({
                        "Code": "Success", "LastUpdated": _iso(now), "Type": "AWS-HMAC",
                        "AccessKeyId": key_id, "SecretAccessKey": secret, "Token": token,
                        "Expiration": _iso(expiration)}), "application/json")
                return self._answer(404, "Not Found")

        self._serve(Handler)
        return self


def _iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
