"""Test double of Splunk's `splunk` package (see ../README.md)."""


class RESTException(Exception):
    def __init__(self, statusCode, msg=None):
        super(RESTException, self).__init__(msg)
        self.statusCode = statusCode
        self.msg = msg
